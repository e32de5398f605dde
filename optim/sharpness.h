// SAM sharpness of a ProbeLoss at its current w: max over |e| <= rho of
// L(w + e) - L(w), estimated by k normalised ascent steps
//   e_1 = rho g(w) / |g(w)|,   e_{t+1} = rho g(w + e_t) / |g(w + e_t)|,
// each e_{t+1} maximising the loss's linearisation at w + e_t over the ball.
// k = 1 is exactly SAM's perturbation; for a convex loss every step raises
// L(w + e). The result is the best L(w + e_t) seen, a lower bound of the max.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "optim/hessian.h"
#include "optim/probe_loss.h"

namespace basin::optim {

struct SharpnessResult {
  double rho = 0;
  double loss = 0;            // L(w)
  double perturbed_loss = 0;  // max_t L(w + e_t)
  double sharpness = 0;       // perturbed_loss - loss
  int64_t best_step = 0;      // the t that reached it (1-based)
  std::vector<double> step_losses;  // L(w + e_t), t = 1..k
};

// gen draws a random first direction only when g(w) = 0 exactly (an exact
// stationary point has no ascent direction to normalise).
SharpnessResult sam_sharpness(ProbeLoss& loss, double rho, int64_t steps, Generator& gen,
                              const ProbeTick& tick = {});

}  // namespace basin::optim
