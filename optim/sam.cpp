// SGD's (absent) perturbation, SAM and ASAM ascent steps.
#include "optim/sam.h"

#include <cmath>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "optim/sgd.h"

namespace basin::optim {

void Sgd::perturb(const StepInput&, const Pass1&, double, StepResult&) {
  fail("optimizer sgd: perturb() called, but SGD has no second pass");
}

void Sam::normalised_ascent(const Tensor& v, double v_norm) {
  Tensor w = flat_.params();
  const double a = resolved_rho(config_) / (v_norm + kNormEpsilon);
  backend_of(w).perturb(w, e_, v, Tensor(), a, Tensor(), 0.0, /*apply=*/true);
}

void Sam::perturb(const StepInput&, const Pass1&, double grad_norm, StepResult&) {
  normalised_ascent(g_, grad_norm);
}

Asam::Asam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker)
    : Optimizer(config, flat, tracker) {
  NoGrad no_grad;
  // offset = eta * mask + (1 - mask): exactly eta on weights and exactly 1 elsewhere.
  const Tensor& mask = flat_.asam_weight_mask();
  offset_ = add(mul(mask, config_.asam_eta), add(neg(mask), 1.0)).contiguous();
  scale_ = flat_.new_state_buffer();
}

void Asam::perturb(const StepInput&, const Pass1&, double, StepResult&) {
  Tensor w = flat_.params();
  Backend& backend = backend_of(w);
  backend.unary(UnaryOp::Abs, w, scale_);
  backend.binary(BinaryOp::Mul, scale_, flat_.asam_weight_mask(), scale_);
  backend.binary(BinaryOp::Add, scale_, offset_, scale_);  // T = |w| + eta (weights), 1 (others)
  backend.binary(BinaryOp::Mul, scale_, g_, e_);           // T g, only for its norm
  const double tg_norm = std::sqrt(dot_value(e_, e_));
  const double a = resolved_rho(config_) / (tg_norm + kNormEpsilon);
  backend.perturb(w, e_, g_, scale_, a, Tensor(), 0.0, /*apply=*/true);  // e = a T^2 g
}

}  // namespace basin::optim
