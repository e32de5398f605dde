// The scalars of one optimizer step as they live on the device: 0-d tensors
// (losses, squared norms, dot products, counts) that the next kernel reads,
// plus the step's skip flag. The host sees them only when it asks: one
// transfer per sync (Optimizer::sync), normally on a logging step, turns a
// step's tensors into StepResult's numbers and its skip decision.
//
// The skip flag is a "poison" sum: flag += x * 0 for every checked scalar x.
// It stays exactly 0 while all are finite and becomes NaN as soon as one is
// not (inf * 0 = NaN * 0 = NaN). Kernels that take it skip when it is not 0.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace basin::optim {

struct StepResult;

struct StepScalars {
  // Checked, in the order the skip reasons name them (the first non-finite one is the reason).
  std::vector<Tensor> loss_parts;   // pass 1, one per micro-batch: mean-loss share of the part
  Tensor g_dot;                     // |g|^2
  Tensor aux_dot;                   // |g*|^2 (NCSAM) or |g_C|^2 (CA-SAM); undefined when not computed
  std::string aux_name;             // how the skip reason names it, e.g. "compensation gradient norm |g*|"
  Tensor e_dot_raw;                 // NCSAM: |e|^2 before the projection
  std::vector<Tensor> loss2_parts;  // pass 2
  Tensor g2_dot;                    // |g2|^2
  // Reported, not checked.
  Tensor e_dot;                     // |e|^2 of the applied perturbation (read-back steps)
  Tensor clean_count;               // CA-SAM: likely-clean members of the batch
  Tensor g_e, g_g2, g_aux;          // <g, e>, <g, g2>, <g, aux> (observed steps)
  // NCSAM's comp_ratio = magnitude |g*| / rho: 0 = not computed here, 1 = raw (s(t)), 2 = normalized.
  int comp_mode = 0;
  double rho = 0, s_t = 0, eps = 0;

  Tensor poison;  // 0-d, the arena's dtype: 0 while every checked scalar is finite

  // poison += x * 0 (x cast to the poison's dtype): no read, a few tiny kernels.
  void check_finite(const Tensor& x);
  // The checked and reported tensors in one f64 vector on the device, in a fixed order.
  Tensor packed() const;
  // Fills r's numbers from packed() read back (values), and, when a checked
  // scalar is not finite, r.skip_reason naming the first one. Returns whether skipped.
  bool resolve(const std::vector<double>& values, StepResult& r) const;
};

}  // namespace basin::optim
