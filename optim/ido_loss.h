// IDO's stage-2 loss (Zhang et al. 2025; docs/algorithms.md "IDO"), a
// two-view StepLoss: the closure returns [z_w; z_s], the weak and the strong
// view's logits [2B, C]. Per sample i, with p_c,i and eps_i from the
// wrong-event mixture (optim/wrong_event_mixture.h):
//   l_i = p_c,i (CE(z_w,i, y_i) + CE(z_s,i, y_i))
//       + eps_i mean_k (z_s,ik - z_w,ik)^2
//       + (1 - p_c,i) max_k q_ik H(q_i),
//   q_i = (clip(softmax z_w,i) + clip(softmax z_s,i)) / 2, clip to [1e-4, 1 - 1e-4],
// and L = mean_i l_i = L_ce + L_sim + L_ent. This is the intended rule: the
// authors' code multiplies mean(max q) by mean((1 - p_c) H), a broadcasting
// bug, where the rule is one product per sample. Both the clip and the max
// pass gradient where they select (the clip's gradient is 0 outside its range).
#pragma once
#include <vector>

#include "optim/step_loss.h"

namespace basin::optim {

class IdoLoss : public StepLoss {
 public:
  // p_clean, epsilon: one per training sample (host values, stored on `device` in `dtype`).
  IdoLoss(const std::vector<double>& p_clean, const std::vector<double>& epsilon, Device device,
          DType dtype = DType::F32);
  const char* name() const override { return "ido"; }
  int64_t views() const override { return 2; }
  // logits [2b, C] (weak rows, then strong rows); rows.indices are required.
  Tensor per_sample(const Tensor& logits, const LossRows& rows) const override;
  // "ido.p_clean" and "ido.epsilon" of the batch's samples.
  void add_dump_entries(NamedTensors& tensors, const Tensor& indices) const override;

 private:
  Tensor p_clean_, epsilon_;  // [N]
};

// The three terms per sample, for logs and tests: ce, sim, ent [b] each.
struct IdoTerms {
  Tensor ce, sim, ent;
};
IdoTerms ido_terms(const Tensor& weak, const Tensor& strong, const Tensor& labels, const Tensor& p_clean,
                   const Tensor& epsilon);

}  // namespace basin::optim
