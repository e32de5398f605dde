// Hessian-vector products by central differences of gradients, power
// iteration with deflation, Hutchinson's trace; see hessian.h.
#include "optim/hessian.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

double norm(const Tensor& v) { return std::sqrt(dot_value(v, v)); }

Tensor random_normal_like(const Tensor& w, Generator& gen) { return randn(w.shape(), gen, w.dtype(), w.device()); }

Tensor rademacher_like(const Tensor& w, Generator& gen) {
  NoGrad no_grad;
  const Tensor u = rand(w.shape(), gen, w.dtype(), w.device());
  return add(mul(compare(BinaryOp::Ge, u, 0.5), 2.0), -1.0);
}

Tensor hessian_vector_product(ProbeLoss& loss, const Tensor& v, const HessianOptions& options) {
  Tensor& w = loss.params();
  BASIN_CHECK(v.defined() && v.numel() == w.numel() && v.dtype() == w.dtype() && v.device() == w.device(),
              "Hessian-vector product: vector ", v.defined() ? v.str() : "undefined",
              " does not have the parameters' layout ", w.str());
  BASIN_CHECK(options.step > 0 && std::isfinite(options.step),
              "Hessian-vector product: the finite-difference step must be > 0, got ", options.step);
  const double v_norm = norm(v);
  BASIN_CHECK(v_norm > 0 && std::isfinite(v_norm), "Hessian-vector product: |v| must be finite and > 0, got ",
              v_norm);
  const double h = options.step / v_norm;
  Tensor w0, g_plus, g_minus;
  {
    NoGrad no_grad;
    w0 = w.clone();
    g_plus = zeros(w.shape(), w.dtype(), w.device());
    g_minus = zeros(w.shape(), w.dtype(), w.device());
  }
  try {
    // Both displaced points start from the saved copy, so w comes back exactly.
    w.add_(v, h);
    loss.gradient(g_plus);
    w.copy_(w0);
    w.add_(v, -h);
    loss.gradient(g_minus);
  } catch (...) {
    w.copy_(w0);
    throw;
  }
  w.copy_(w0);
  g_plus.add_(g_minus, -1.0);
  g_plus.mul_(1.0 / (2.0 * h));
  return g_plus;
}

namespace {

// v -= sum_j <v, u_j> u_j over unit vectors u_j.
void orthogonalise(Tensor& v, const std::vector<Tensor>& basis) {
  for (const Tensor& u : basis) v.add_(u, -dot_value(v, u));
}

}  // namespace

EigenResult top_hessian_eigenvalues(ProbeLoss& loss, Generator& gen, const EigenOptions& options,
                                    const ProbeTick& tick) {
  BASIN_CHECK(options.count >= 1, "Hessian eigenvalues: the count must be >= 1, got ", options.count);
  BASIN_CHECK(options.iterations >= 1, "Hessian eigenvalues: iterations must be >= 1, got ", options.iterations);
  BASIN_CHECK(options.tolerance >= 0, "Hessian eigenvalues: the tolerance must be >= 0, got ", options.tolerance);
  const Tensor& w = loss.params();
  BASIN_CHECK(options.count <= w.numel(), "Hessian eigenvalues: asked for ", options.count,
              " of a Hessian with only ", w.numel(), " rows");
  EigenResult r;
  const int64_t planned = options.count * options.iterations;
  int64_t done = 0;
  for (int64_t k = 0; k < options.count; ++k) {
    Tensor v = random_normal_like(w, gen);
    orthogonalise(v, r.vectors);
    v.mul_(1.0 / norm(v));
    double lambda = 0, previous = std::nan("");
    bool converged = false;
    int64_t it = 0;
    while (it < options.iterations && !converged) {
      ++it;
      Tensor hv = hessian_vector_product(loss, v, options.hessian);
      // Deflation: (H - sum_j lambda_j v_j v_j^T) v.
      for (size_t j = 0; j < r.vectors.size(); ++j) hv.add_(r.vectors[j], -r.values[j] * dot_value(r.vectors[j], v));
      lambda = dot_value(v, hv);  // Rayleigh quotient, |v| = 1
      converged = std::abs(lambda - previous) <= options.tolerance * std::abs(lambda);
      previous = lambda;
      if (tick) tick(++done, planned);
      orthogonalise(hv, r.vectors);  // keeps rounding from pulling v back to found directions
      const double n = norm(hv);
      if (!(n > 0) || !std::isfinite(n)) {
        converged = n == 0;  // v is in the null space of the deflated H: lambda = 0 exactly
        break;
      }
      v = hv;
      v.mul_(1.0 / n);
    }
    done += options.iterations - it;  // the skipped iterations count as done for progress
    r.values.push_back(lambda);
    r.iterations.push_back(it);
    r.converged.push_back(converged);
    r.vectors.push_back(v);
  }
  return r;
}

TraceResult hutchinson_trace(ProbeLoss& loss, Generator& gen, int64_t vectors, const HessianOptions& options,
                             const ProbeTick& tick) {
  BASIN_CHECK(vectors >= 1, "Hutchinson trace: the number of vectors must be >= 1, got ", vectors);
  const Tensor& w = loss.params();
  TraceResult r;
  double sum = 0;
  for (int64_t i = 0; i < vectors; ++i) {
    const Tensor z = rademacher_like(w, gen);
    const double value = dot_value(z, hessian_vector_product(loss, z, options));
    r.samples.push_back(value);
    sum += value;
    if (tick) tick(i + 1, vectors);
  }
  r.mean = sum / static_cast<double>(vectors);
  if (vectors > 1) {
    double squares = 0;
    for (double s : r.samples) squares += (s - r.mean) * (s - r.mean);
    r.standard_error = std::sqrt(squares / static_cast<double>(vectors - 1) / static_cast<double>(vectors));
  }
  return r;
}

}  // namespace basin::optim
