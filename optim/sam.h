// SAM (Foret et al. 2021) and ASAM (Kwon et al. 2021): the ascent step e is
// built from the pass-1 gradient g alone.
//   SAM:  e = rho * g / (|g| + 1e-12)
//   ASAM: T = |w| + eta on weights (conv, linear, BN scale), 1 elsewhere;
//         e = rho * T^2 g / (|T g| + 1e-12)
#pragma once
#include "core/backend.h"
#include "optim/optimizer.h"

namespace basin::optim {

// Shared epsilon of every normalised ascent direction: a zero gradient gives e = 0, never NaN.
constexpr double kNormEpsilon = 1e-12;

// rho (resolved from the config) and kNormEpsilon for the backend's ascent kernels.
AscentParams ascent_params(const OptimConfig& config);

class Sam : public Optimizer {
 public:
  Sam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker = nullptr)
      : Optimizer(config, flat, tracker) {}
  const char* name() const override { return "sam"; }

 protected:
  bool second_pass(const StepInput&) const override { return true; }
  void perturb(const StepInput& input, const Pass1& pass1, StepResult& result) override;
  // e = rho * g / (|g| + eps), w += e: Backend::sam_perturb on the step's g and |g|^2.
  void sam_ascent();
};

class Asam : public Optimizer {
 public:
  Asam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker = nullptr);
  const char* name() const override { return "asam"; }
  const Tensor& scale() const { return scale_; }  // T of the last step

 protected:
  bool second_pass(const StepInput&) const override { return true; }
  void perturb(const StepInput& input, const Pass1& pass1, StepResult& result) override;

 private:
  Tensor scale_;   // T
  Tensor offset_;  // eta on weights, 1 elsewhere: T = |w| * mask + offset
};

}  // namespace basin::optim
