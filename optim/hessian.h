// Curvature of a ProbeLoss at its current w: Hessian-vector products, the top
// eigenvalues by power iteration with deflation, and Hutchinson's trace
// estimate. basin's autograd does not differentiate its own backward (the
// backward closures run without recording), so H v comes from central
// differences of gradients: H v ~ (g(w + h v) - g(w - h v)) / (2h), two
// gradient passes over the probe's samples per product, error O(h^2).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/rng.h"
#include "optim/probe_loss.h"

namespace basin::optim {

struct HessianOptions {
  // Length of the displacement h*v in parameter space (v is scaled to this
  // norm): large enough that f32 gradients differ well above rounding, small
  // enough that third derivatives do not matter. f64 tests use ~1e-5.
  double step = 1e-3;
};

// H v at the current w (w is restored bit for bit afterwards).
Tensor hessian_vector_product(ProbeLoss& loss, const Tensor& v, const HessianOptions& options = {});

// Called after every Hessian-vector product with (products done, products planned).
using ProbeTick = std::function<void(int64_t done, int64_t total)>;

struct EigenOptions {
  int64_t count = 1;        // how many of the top eigenvalues
  int64_t iterations = 20;  // power iterations per eigenvalue, at most
  double tolerance = 1e-3;  // stop when |lambda_k - lambda_{k-1}| <= tolerance * |lambda_k|
  HessianOptions hessian;
};

struct EigenResult {
  std::vector<double> values;           // largest first, by power iteration on the deflated H
  std::vector<int64_t> iterations;      // iterations each one took
  std::vector<bool> converged;          // reached the tolerance
  std::vector<Tensor> vectors;          // unit eigenvectors (w's layout)
};

// Power iteration on H - sum_j lambda_j v_j v_j^T (deflation by the ones
// already found). It converges to the eigenvalue of largest MAGNITUDE of the
// deflated H: at a minimum that is the top one; a negative value says the
// point has strong negative curvature.
EigenResult top_hessian_eigenvalues(ProbeLoss& loss, Generator& gen, const EigenOptions& options = {},
                                    const ProbeTick& tick = {});

struct TraceResult {
  double mean = 0;            // the estimate of tr(H)
  double standard_error = 0;  // sample std / sqrt(vectors); 0 with one vector
  std::vector<double> samples;  // z^T H z for each Rademacher z
};

// Hutchinson: tr(H) = E[z^T H z] for z with independent +-1 entries.
TraceResult hutchinson_trace(ProbeLoss& loss, Generator& gen, int64_t vectors, const HessianOptions& options = {},
                             const ProbeTick& tick = {});

// Vectors in w's layout, drawn on w's device.
Tensor random_normal_like(const Tensor& w, Generator& gen);
Tensor rademacher_like(const Tensor& w, Generator& gen);
double norm(const Tensor& v);  // host value of ||v||_2

}  // namespace basin::optim
