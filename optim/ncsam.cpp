// NCSAM's perturbation: low-margin sampling, temporary labels, g* through the
// retained graph, the s(t) schedule and the projection onto the rho-ball.
#include "optim/ncsam.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "optim/sam.h"
#include "optim/sampling.h"

namespace basin::optim {

double ncsam_strength(double t, double kappa) {
  const double r = 2.0 * (3.0 - 2.0 * t) * t * t;
  return kappa * std::min(r, 1.0);
}

Tensor ncsam_probabilities(const Tensor& logits) {
  BASIN_CHECK(logits.defined() && logits.dim() == 2 && logits.size(1) >= 2,
              "ncsam: logits must be [B, C] with C >= 2, got ",
              logits.defined() ? logits.str() : std::string("undefined"));
  NoGrad no_grad;
  const Tensor z = logits.detach();
  const int64_t batch = z.size(0);
  const TopK top = topk(z, 2);
  const Tensor margin = sub(top.values.narrow(1, 0, 1), top.values.narrow(1, 1, 1)).reshape({batch});
  const Tensor q = div(ones({batch}, z.dtype(), z.device()), add(margin, 1.0));
  return div(q, sum(q));
}

Tensor runner_up_labels(const Tensor& logits, const Tensor& labels) {
  BASIN_CHECK(logits.defined() && logits.dim() == 2 && logits.size(1) >= 2,
              "ncsam: logits must be [B, C] with C >= 2, got ",
              logits.defined() ? logits.str() : std::string("undefined"));
  const int64_t batch = logits.size(0);
  BASIN_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.numel() == batch,
              "ncsam: labels must be i64 [", batch, "]");
  NoGrad no_grad;
  const TopK top = topk(logits.detach(), 2);
  const DType dt = logits.dtype();  // class indices are exact in f32 and f64
  const Tensor first = top.indices.narrow(1, 0, 1).reshape({batch}).to(dt);
  const Tensor second = top.indices.narrow(1, 1, 1).reshape({batch}).to(dt);
  const Tensor is_label = compare(BinaryOp::Eq, first, labels.reshape({batch}).to(dt));
  // first when it is not the label, else the runner-up
  return add(first, mul(is_label, sub(second, first))).to(DType::I64);
}

int64_t Ncsam::subset_size(int64_t batch) const {
  return static_cast<int64_t>(std::floor(config_.r_flip * static_cast<double>(batch)));
}

bool Ncsam::computes_g_star(const StepInput& input) const {
  // With s(t) = 0 the term sign * s(t) * g* (or its normalized form) is zero
  // whatever g* is, so its backward pass would be wasted.
  return subset_size(input.labels.numel()) > 0 && ncsam_strength(input.progress, config_.kappa) > 0.0;
}

double Ncsam::step_strength(const StepInput& input) const {
  return ncsam_strength(input.progress, config_.kappa);
}

bool Ncsam::second_pass(const StepInput& input) const {
  return static_cast<double>(input.epoch) >= resolved_warmup_epochs(config_);
}

bool Ncsam::needs_pass1_graph(const StepInput& input) const { return computes_g_star(input); }

void Ncsam::perturb(const StepInput& input, const Pass1& pass1, StepResult& result) {
  const double rho = resolved_rho(config_);
  const int64_t batch = input.labels.numel();
  const int64_t m = subset_size(batch);
  result.s_t = ncsam_strength(input.progress, config_.kappa);
  if (m == 0) {  // no chosen rows: g* = 0 and the step is SAM's
    result.aux_grad_norm = 0.0;
    result.comp_ratio = 0.0;
    sam_ascent();
    return;
  }
  const bool observed_target = config_.ncsam_target == "observed";
  Tensor weights, targets;
  {
    NoGrad no_grad;
    const Tensor& z = pass1.logits;
    const Tensor p = ncsam_probabilities(z);
    // Drawn even when s(t) = 0, so runs that differ only in kappa share one random stream.
    // A fixed number m of rows chosen on the device: no value comes back (docs/optimizers.md).
    const Tensor chosen = gumbel_top_k(log(p), m, generator_, nullptr, philox_offset_value());
    targets = observed_target ? input.labels : runner_up_labels(z, input.labels);
    weights = zeros({batch}, z.dtype(), z.device());
    const Tensor share = full({m}, 1.0 / static_cast<double>(m), z.dtype(), z.device());
    backend_of(weights).index_add_rows(share, chosen, weights);  // 1/m on the chosen rows, 0 elsewhere
    result.chosen = chosen;
    result.temporary_labels = index_select(targets, chosen);
    if (input.observe && input.clean_labels.defined())
      result.chosen_wrong_share =
          wrong_share(index_select(input.labels, chosen), index_select(input.clean_labels, chosen));
  }
  if (!computes_g_star(input)) {  // s(t) = 0: e is SAM's exactly, g* is not computed
    result.comp_ratio = 0.0;
    sam_ascent();
    return;
  }
  // g* = grad of the mean CE of the chosen rows against their targets.
  backprop_weighted_loss(pass1, targets, weights, config_.subset_label_smoothing, aux_);
  scalars_.aux_dot = dot(aux_, aux_);
  scalars_.aux_name = "compensation gradient norm |g*|";
  scalars_.check_finite(scalars_.aux_dot);  // a non-finite g* skips the step before w moves
  // e = a g + b g*: b = sign s(t) (raw) or sign rho s(t) / (|g*| + eps) (normalized),
  // then the projection onto the rho-ball, all on the device.
  NcsamPerturbParams p;
  p.rho = rho;
  p.eps = kNormEpsilon;
  p.s_t = result.s_t;
  p.s_t_value = s_t_value();
  p.sign = config_.sign;
  p.normalized = config_.ncsam_scale == "normalized";
  p.project = config_.project;
  scalars_.comp_mode = p.normalized ? 2 : 1;
  scalars_.rho = rho;
  scalars_.s_t = result.s_t;
  scalars_.eps = kNormEpsilon;
  scalars_.e_dot_raw = zeros({}, aux_.dtype(), aux_.device());
  Tensor w = flat_.params();
  backend_of(w).ncsam_perturb(w, e_, g_, aux_, scalars_.g_dot, scalars_.aux_dot, scalars_.e_dot_raw,
                              scalars_.poison, p);
  scalars_.check_finite(scalars_.e_dot_raw);  // finite g and g*, but a + b overflowed
}

void Ncsam::add_dump_entries(NamedTensors& tensors, const StepResult& result) const {
  if (result.chosen.defined()) {
    tensors.emplace_back("ncsam.chosen", result.chosen);
    tensors.emplace_back("ncsam.temporary_labels", result.temporary_labels);
    // g* only when this step computed it (aux_ may hold an earlier step's).
    if (aux_.defined() && !std::isnan(result.aux_grad_norm)) tensors.emplace_back("ncsam.g_star", aux_);
  }
}

}  // namespace basin::optim
