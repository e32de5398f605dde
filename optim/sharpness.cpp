// SAM sharpness by normalised ascent steps; see sharpness.h.
#include "optim/sharpness.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

SharpnessResult sam_sharpness(ProbeLoss& loss, double rho, int64_t steps, Generator& gen, const ProbeTick& tick) {
  BASIN_CHECK(rho > 0 && std::isfinite(rho), "SAM sharpness: rho must be > 0, got ", rho);
  BASIN_CHECK(steps >= 1, "SAM sharpness: the number of ascent steps must be >= 1, got ", steps);
  Tensor& w = loss.params();
  Tensor w0, g;
  {
    NoGrad no_grad;
    w0 = w.clone();
    g = zeros(w.shape(), w.dtype(), w.device());
  }
  SharpnessResult r;
  r.rho = rho;
  try {
    r.loss = loss.gradient(g);
    r.perturbed_loss = -INFINITY;
    for (int64_t t = 1; t <= steps; ++t) {
      double g_norm = norm(g);
      BASIN_CHECK(std::isfinite(g_norm), "SAM sharpness: the gradient is not finite at ascent step ", t);
      if (g_norm == 0) {  // exact stationary point: any direction is an ascent direction to second order
        g = random_normal_like(w, gen);
        g_norm = norm(g);
      }
      w.copy_(w0);
      w.add_(g, rho / g_norm);  // w + e_t, |e_t| = rho
      // The last point needs no gradient: nothing steps from it.
      const double value = t < steps ? loss.gradient(g) : loss.evaluate().loss;
      r.step_losses.push_back(value);
      if (value > r.perturbed_loss) {
        r.perturbed_loss = value;
        r.best_step = t;
      }
      if (tick) tick(t, steps);
    }
  } catch (...) {
    w.copy_(w0);
    throw;
  }
  w.copy_(w0);
  r.sharpness = r.perturbed_loss - r.loss;
  return r;
}

}  // namespace basin::optim
