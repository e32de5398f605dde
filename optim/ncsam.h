// NCSAM (Xu, Deng, Pang 2026): SAM whose ascent direction is corrected by the
// gradient g* of simulated label noise on a few low-margin samples of the batch:
//   e = rho * g / (|g| + 1e-12) + sign * c,  projected onto |e| <= rho,
//   c = s(t) * g*                        (ncsam_scale = raw, default)
//   c = rho * s(t) * g* / (|g*| + 1e-12) (ncsam_scale = normalized)
// g* is taken toward the chosen rows' temporary labels (ncsam_target =
// temporary, default) or their observed labels (observed). It back-propagates
// a second upstream gradient through the retained pass-1 graph (no extra
// forward), and is skipped when s(t) = 0, where the step is exactly SAM's.
// See docs/algorithms.md "NCSAM" and docs/optimizers.md.
#pragma once
#include "optim/sam.h"

namespace basin::optim {

// s(t) = kappa * min(2 (3 - 2t) t^2, 1); saturates at t = 0.5.
double ncsam_strength(double t, double kappa);

// Sampling probabilities p [B] of NCSAM: margin d_i = top1(z_i) - top2(z_i) of the
// raw logits, q_i = 1 / (1 + d_i), p_i = q_i / sum q. Needs C >= 2.
Tensor ncsam_probabilities(const Tensor& logits);

// Temporary labels [B] i64: argmax over c != labels_i of logits_i[c] (lowest index on ties).
Tensor runner_up_labels(const Tensor& logits, const Tensor& labels);

// Derives from Sam for its exact ascent e = rho g / (|g| + eps), used when
// the compensation term is zero (s(t) = 0 or no chosen rows).
class Ncsam : public Sam {
 public:
  Ncsam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker = nullptr)
      : Sam(config, flat, tracker) {}
  const char* name() const override { return "ncsam"; }
  // m = floor(r_flip * B)
  int64_t subset_size(int64_t batch) const;
  // Whether this step takes the g* backward pass: m > 0 and s(t) > 0.
  bool computes_g_star(const StepInput& input) const;

 protected:
  bool second_pass(const StepInput& input) const override;
  bool needs_pass1_graph(const StepInput& input) const override;
  void perturb(const StepInput& input, const Pass1& pass1, StepResult& result) override;
  void add_dump_entries(NamedTensors& tensors, const StepResult& result) const override;
  double step_strength(const StepInput& input) const override;
};

}  // namespace basin::optim
