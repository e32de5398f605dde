// Filter-normalised directions and losses along lines and planes; see landscape.h.
#include "optim/landscape.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

Tensor filter_normalized_direction(const std::vector<Segment>& segments, const Tensor& w, Generator& gen) {
  NoGrad no_grad;
  Tensor d = random_normal_like(w, gen);
  int64_t covered = 0;
  for (const Segment& s : segments) {
    BASIN_CHECK(s.offset + s.numel <= w.numel(), "filter-normalised direction: segment '", s.name,
                "' ends at ", s.offset + s.numel, ", past the arena's ", w.numel(), " elements");
    covered += s.numel;
    Tensor d_seg = d.narrow(0, s.offset, s.numel);
    if (s.shape.size() < 2 || s.numel == 0) {
      d_seg.zero_();
      continue;
    }
    const int64_t filters = s.shape[0];
    const Tensor d_rows = d_seg.view({filters, s.numel / filters});
    const Tensor w_rows = w.narrow(0, s.offset, s.numel).view({filters, s.numel / filters});
    const Tensor w_norm = sqrt(sum(square(w_rows), {1}, true));
    // Gaussian rows are never all zero; the tiny floor only keeps 0/0 out.
    const Tensor d_norm = add(sqrt(sum(square(d_rows), {1}, true)), 1e-30);
    d_seg.copy_(mul(d_rows, div(w_norm, d_norm)).view({s.numel}));
  }
  BASIN_CHECK(covered == w.numel(), "filter-normalised direction: the segments cover ", covered, " of the ",
              w.numel(), " parameters");
  return d;
}

std::vector<double> linspace(double first, double last, int64_t n) {
  BASIN_CHECK(n >= 1, "linspace: needs at least one point, got ", n);
  std::vector<double> v(static_cast<size_t>(n), first);
  for (int64_t i = 1; i < n; ++i) v[i] = first + (last - first) * static_cast<double>(i) / static_cast<double>(n - 1);
  return v;
}

namespace {

void check_direction(const Tensor& d, const Tensor& w, const char* what) {
  BASIN_CHECK(d.defined() && d.numel() == w.numel() && d.dtype() == w.dtype() && d.device() == w.device(),
              "loss landscape: ", what, " ", d.defined() ? d.str() : "undefined",
              " does not have the parameters' layout ", w.str());
}

// Evaluate at origin + a d1 + b d2 for every (a, b), restoring w however it ends.
std::vector<LossValue> evaluate_grid(ProbeLoss& loss, const Tensor& d1, const Tensor* d2,
                                     const std::vector<double>& alphas, const std::vector<double>& betas,
                                     const ProbeTick& tick) {
  Tensor& w = loss.params();
  check_direction(d1, w, "direction");
  if (d2) check_direction(*d2, w, "second direction");
  BASIN_CHECK(!alphas.empty() && !betas.empty(), "loss landscape: a grid of size 0 (", alphas.size(), " x ",
              betas.size(), " points)");
  Tensor w0;
  {
    NoGrad no_grad;
    w0 = w.clone();
  }
  std::vector<LossValue> out;
  const int64_t total = static_cast<int64_t>(alphas.size() * betas.size());
  try {
    for (double b : betas)
      for (double a : alphas) {
        w.copy_(w0);
        w.add_(d1, a);
        if (d2) w.add_(*d2, b);
        out.push_back(loss.evaluate());
        if (tick) tick(static_cast<int64_t>(out.size()), total);
      }
  } catch (...) {
    w.copy_(w0);
    throw;
  }
  w.copy_(w0);
  return out;
}

}  // namespace

std::vector<LossValue> loss_along(ProbeLoss& loss, const Tensor& d1, const std::vector<double>& alphas,
                                  const ProbeTick& tick) {
  return evaluate_grid(loss, d1, nullptr, alphas, {0.0}, tick);
}

std::vector<LossValue> loss_surface(ProbeLoss& loss, const Tensor& d1, const Tensor& d2,
                                    const std::vector<double>& alphas, const std::vector<double>& betas,
                                    const ProbeTick& tick) {
  return evaluate_grid(loss, d1, &d2, alphas, betas, tick);
}

std::vector<LossValue> loss_on_line(ProbeLoss& loss, const Tensor& target, const std::vector<double>& alphas,
                                    const ProbeTick& tick) {
  const Tensor& w = loss.params();
  check_direction(target, w, "line target");
  Tensor d;
  {
    NoGrad no_grad;
    d = sub(target, w);
  }
  return loss_along(loss, d, alphas, tick);
}

}  // namespace basin::optim
