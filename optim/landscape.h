// Loss landscapes of a ProbeLoss: the loss along the segment between two
// parameter vectors (e.g. two checkpoints), and 1D / 2D surfaces around w
// along random directions normalised filter by filter (Li et al. 2018,
// "Visualizing the loss landscape of neural nets"), so that a direction moves
// every filter by as much as that filter's own norm, whatever its scale.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "optim/flat_params.h"
#include "optim/hessian.h"
#include "optim/probe_loss.h"

namespace basin::optim {

// A Gaussian direction d in the arena's layout, then for every parameter of
// two or more dimensions, per filter (each slice along its first dimension:
// a conv output channel, a linear output row): d_f <- d_f * |w_f| / |d_f|.
// Parameters of one dimension (biases, BatchNorm scale and shift) get d = 0,
// so the surface shows the weights' landscape. w: the arena [P].
Tensor filter_normalized_direction(const std::vector<Segment>& segments, const Tensor& w, Generator& gen);

// n evenly spaced values from first to last (n >= 2; n = 1 gives {first}).
std::vector<double> linspace(double first, double last, int64_t n);

// L(origin + a * d1 [+ b * d2]) for each a (and b); w is restored afterwards.
// Points in row-major order: b outer, a inner.
std::vector<LossValue> loss_along(ProbeLoss& loss, const Tensor& d1, const std::vector<double>& alphas,
                                  const ProbeTick& tick = {});
std::vector<LossValue> loss_surface(ProbeLoss& loss, const Tensor& d1, const Tensor& d2,
                                    const std::vector<double>& alphas, const std::vector<double>& betas,
                                    const ProbeTick& tick = {});

// The loss along the line from the current w (alpha = 0) to `target`
// (alpha = 1): w + alpha (target - w).
std::vector<LossValue> loss_on_line(ProbeLoss& loss, const Tensor& target, const std::vector<double>& alphas,
                                    const ProbeTick& tick = {});

}  // namespace basin::optim
