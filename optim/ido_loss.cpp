// IDO's two-view loss; see ido_loss.h.
#include "optim/ido_loss.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

namespace {

constexpr double kProbClip = 1e-4;

// clip(p) to [lo, hi] from masks that do not record: gradient 1 inside, 0 outside.
Tensor clip_probabilities(const Tensor& p) {
  Tensor inside, below, above;
  {
    NoGrad no_grad;
    below = compare(BinaryOp::Lt, p, kProbClip);
    above = compare(BinaryOp::Gt, p, 1.0 - kProbClip);
    inside = sub(sub(ones(p.shape(), p.dtype(), p.device()), below), above);
  }
  return add(add(mul(p, inside), mul(below, kProbClip)), mul(above, 1.0 - kProbClip));
}

// max over dim 1, differentiable: the mean of the entries equal to the max
// (one, short of exact ties), so the gradient goes to the selected entries.
Tensor row_max(const Tensor& q) {
  Tensor pick;
  {
    NoGrad no_grad;
    const Tensor top = max(q, 1, /*keepdim=*/true);
    const Tensor is_max = compare(BinaryOp::Eq, q, top);
    pick = div(is_max, sum(is_max, {1}, /*keepdim=*/true));
  }
  return sum(mul(q, pick), {1});
}

}  // namespace

IdoTerms ido_terms(const Tensor& weak, const Tensor& strong, const Tensor& labels, const Tensor& p_clean,
                   const Tensor& epsilon) {
  IdoTerms t;
  t.ce = mul(add(cross_entropy_per_sample(weak, labels), cross_entropy_per_sample(strong, labels)), p_clean);
  t.sim = mul(mean(square(sub(strong, weak)), {1}), epsilon);
  const Tensor q = mul(add(clip_probabilities(softmax(weak)), clip_probabilities(softmax(strong))), 0.5);
  const Tensor entropy = neg(sum(mul(q, log(q)), {1}));
  t.ent = mul(mul(row_max(q), entropy), add(neg(p_clean), 1.0));
  return t;
}

IdoLoss::IdoLoss(const std::vector<double>& p_clean, const std::vector<double>& epsilon, Device device,
                 DType dtype) {
  BASIN_CHECK(!p_clean.empty() && p_clean.size() == epsilon.size(), "IdoLoss: ", p_clean.size(),
              " clean posteriors but ", epsilon.size(), " similarity weights (one each per sample)");
  const int64_t n = static_cast<int64_t>(p_clean.size());
  p_clean_ = from_vector<double>(p_clean, {n}).to(dtype).to(device);
  epsilon_ = from_vector<double>(epsilon, {n}).to(dtype).to(device);
}

Tensor IdoLoss::per_sample(const Tensor& logits, const LossRows& rows) const {
  const int64_t b = rows.labels.numel();
  BASIN_CHECK(rows.indices.defined() && rows.indices.numel() == b,
              "IdoLoss: the step needs the samples' dataset indices (StepInput.indices)");
  BASIN_CHECK(logits.dim() == 2 && logits.size(0) == 2 * b, "IdoLoss: logits must be [2B, C] = [", 2 * b,
              ", C] (weak rows, then strong rows), got ", logits.str());
  Tensor p_clean, epsilon;
  {
    NoGrad no_grad;
    p_clean = index_select(p_clean_, rows.indices).to(logits.dtype());
    epsilon = index_select(epsilon_, rows.indices).to(logits.dtype());
  }
  const IdoTerms t = ido_terms(logits.narrow(0, 0, b), logits.narrow(0, b, b), rows.labels, p_clean, epsilon);
  return add(add(t.ce, t.sim), t.ent);
}

void IdoLoss::add_dump_entries(NamedTensors& tensors, const Tensor& indices) const {
  if (!indices.defined()) return;
  NoGrad no_grad;
  tensors.emplace_back("ido.p_clean", index_select(p_clean_, indices));
  tensors.emplace_back("ido.epsilon", index_select(epsilon_, indices));
}

}  // namespace basin::optim
