// SGD's (absent) perturbation, SAM and ASAM ascent steps.
#include "optim/sam.h"

#include <cmath>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "optim/sgd.h"

namespace basin::optim {

void Sgd::perturb(const StepInput&, const Pass1&, StepResult&) {
  fail("optimizer sgd: perturb() called, but SGD has no second pass");
}

AscentParams ascent_params(const OptimConfig& config) {
  AscentParams p;
  p.rho = resolved_rho(config);
  p.eps = kNormEpsilon;
  return p;
}

void Sam::sam_ascent() {
  Tensor w = flat_.params();
  backend_of(w).sam_perturb(w, e_, g_, scalars_.g_dot, scalars_.poison, ascent_params(config_));
}

void Sam::perturb(const StepInput&, const Pass1&, StepResult&) { sam_ascent(); }

Asam::Asam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker)
    : Optimizer(config, flat, tracker) {
  NoGrad no_grad;
  // offset = eta * mask + (1 - mask): exactly eta on weights and exactly 1 elsewhere.
  const Tensor& mask = flat_.asam_weight_mask();
  offset_ = add(mul(mask, config_.asam_eta), add(neg(mask), 1.0)).contiguous();
  scale_ = flat_.new_state_buffer();
}

void Asam::perturb(const StepInput&, const Pass1&, StepResult&) {
  Tensor w = flat_.params();
  Backend& backend = backend_of(w);
  backend.unary(UnaryOp::Abs, w, scale_);
  backend.binary(BinaryOp::Mul, scale_, flat_.asam_weight_mask(), scale_);
  backend.binary(BinaryOp::Add, scale_, offset_, scale_);  // T = |w| + eta (weights), 1 (others)
  backend.binary(BinaryOp::Mul, scale_, g_, e_);           // T g, only for its norm
  const Tensor tg_dot = dot(e_, e_);
  backend.asam_perturb(w, e_, g_, scale_, tg_dot, scalars_.poison, ascent_params(config_));  // e = a T^2 g
}

}  // namespace basin::optim
