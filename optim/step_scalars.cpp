// StepScalars: the poison flag, packing for one read, and the skip reasons.
#include "optim/step_scalars.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "optim/optimizer.h"

namespace basin::optim {

namespace {

// The packing order, shared by packed() and resolve(): every defined tensor of
// the list, one f64 each.
template <class F>
void for_each_scalar(const StepScalars& s, F&& f) {
  for (const Tensor& t : s.loss_parts) f(t);
  f(s.g_dot);
  f(s.aux_dot);
  f(s.e_dot_raw);
  for (const Tensor& t : s.loss2_parts) f(t);
  f(s.g2_dot);
  f(s.e_dot);
  f(s.clean_count);
  f(s.g_e);
  f(s.g_g2);
  f(s.g_aux);
}

}  // namespace

void StepScalars::check_finite(const Tensor& x) {
  NoGrad no_grad;
  poison = add(poison, mul(x.detach().reshape({}).to(poison.dtype()), 0.0));
}

Tensor StepScalars::packed() const {
  NoGrad no_grad;
  std::vector<Tensor> parts;
  for_each_scalar(*this, [&](const Tensor& t) {
    if (t.defined()) parts.push_back(t.detach().reshape({1}).to(DType::F64));
  });
  return parts.empty() ? Tensor() : concat(parts, 0);
}

bool StepScalars::resolve(const std::vector<double>& values, StepResult& r) const {
  size_t next = 0;
  auto take = [&](const Tensor& t) { return t.defined() ? values.at(next++) : kNaN; };
  std::vector<double> loss(loss_parts.size()), loss2(loss2_parts.size());
  for (size_t k = 0; k < loss.size(); ++k) loss[k] = take(loss_parts[k]);
  const double g_dot_v = take(g_dot);
  const double aux_dot_v = take(aux_dot);
  const double e_dot_raw_v = take(e_dot_raw);
  for (size_t k = 0; k < loss2.size(); ++k) loss2[k] = take(loss2_parts[k]);
  const double g2_dot_v = take(g2_dot);
  const double e_dot_v = take(e_dot);
  const double count = take(clean_count);
  const double g_e_v = take(g_e), g_g2_v = take(g_g2), g_aux_v = take(g_aux);

  // Sums in the order the parts ran: the same double as a host loop over item() values.
  double loss_sum = 0.0;
  for (double v : loss) loss_sum += v;
  r.loss = loss_sum;
  if (!loss2.empty()) {
    double sum2 = 0.0;
    for (double v : loss2) sum2 += v;
    r.loss_perturbed = sum2;
  }
  r.grad_norm = std::sqrt(g_dot_v);
  if (clean_count.defined()) {
    r.num_clean = static_cast<int64_t>(std::llround(count));
    r.fallback = r.num_clean == 0;
  }
  const bool aux_used = aux_dot.defined() && !(clean_count.defined() && r.num_clean == 0);
  if (aux_used) r.aux_grad_norm = std::sqrt(aux_dot_v);
  if (comp_mode != 0 && aux_used) {
    const double magnitude = comp_mode == 2 ? rho * s_t / (r.aux_grad_norm + eps) : s_t;
    r.comp_ratio = rho > 0 ? magnitude * r.aux_grad_norm / rho : kNaN;
  }
  if (g2_dot.defined()) r.descent_grad_norm = std::sqrt(g2_dot_v);
  if (e_dot.defined()) r.perturb_norm = std::sqrt(e_dot_v);
  auto cosine_of = [](double dot_ab, double na, double nb) {
    return na > 0 && nb > 0 ? dot_ab / (na * nb) : kNaN;
  };
  if (g_e.defined()) r.cos_g_e = cosine_of(g_e_v, r.grad_norm, r.perturb_norm);
  if (g_g2.defined()) r.cos_g_g2 = cosine_of(g_g2_v, r.grad_norm, r.descent_grad_norm);
  if (g_aux.defined() && aux_used) r.cos_g_aux = cosine_of(g_aux_v, r.grad_norm, r.aux_grad_norm);

  // The first non-finite checked scalar names the skip, as the checks ran in the host-driven step.
  std::string reason;
  for (size_t k = 0; k < loss.size() && reason.empty(); ++k)
    if (!std::isfinite(loss[k])) reason = cat("non-finite loss ", loss[k], " at w (pass 1, part ", k, ")");
  if (reason.empty() && !std::isfinite(r.grad_norm))
    reason = cat("non-finite gradient norm |g| = ", r.grad_norm, " at w (pass 1)");
  if (reason.empty() && aux_used && !std::isfinite(r.aux_grad_norm))
    reason = cat("non-finite ", aux_name, " = ", r.aux_grad_norm, " at w (pass 1)");
  if (reason.empty() && e_dot_raw.defined() && !std::isfinite(std::sqrt(e_dot_raw_v)))
    reason = cat("non-finite perturbation norm |e| = ", std::sqrt(e_dot_raw_v), " at w (pass 1)");
  if (!reason.empty()) r.perturbed = false;  // skipped before pass 2 (its e was 0)
  if (reason.empty() && !loss2.empty() && !std::isfinite(r.loss_perturbed))
    reason = cat("non-finite loss ", r.loss_perturbed, " at w + e (pass 2)");
  if (reason.empty() && g2_dot.defined() && !std::isfinite(r.descent_grad_norm))
    reason = cat("non-finite gradient norm |g2| = ", r.descent_grad_norm, " at w + e (pass 2)");
  if (reason.empty()) return false;
  r.skip_reason = reason;
  return true;
}

}  // namespace basin::optim
