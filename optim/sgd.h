// SGD: the base optimizer of every method (momentum, Nesterov, weight decay
// with PyTorch semantics, one Backend::sgd_step over the arena). One pass, no
// perturbation.
#pragma once
#include "optim/optimizer.h"

namespace basin::optim {

class Sgd : public Optimizer {
 public:
  Sgd(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker = nullptr)
      : Optimizer(config, flat, tracker) {}
  const char* name() const override { return "sgd"; }

 protected:
  bool second_pass(const StepInput&) const override { return false; }
  void perturb(const StepInput&, const Pass1&, StepResult&) override;
};

}  // namespace basin::optim
