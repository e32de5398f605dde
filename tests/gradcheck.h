// Shared test helpers: random non-zero tensors and a central finite-difference
// gradient check in f64. Every differentiable op and layer is checked with it.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace basin::testing {

// Uniform in [lo, hi] but never closer than 0.1 to zero when lo < 0 < hi, so
// products, quotients and ReLU kinks are well away from degenerate values.
inline Tensor random_tensor(const Shape& shape, uint32_t seed, DType dtype = DType::F64,
                            double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) {
    do { v = dist(rng); } while (lo < 0 && hi > 0 && std::fabs(v) < 0.1);
  }
  return from_vector<double>(values, shape).to(dtype);
}

// Checks d/dx sum(f(inputs) * R) for a fixed random R against central
// differences, for every input that requires grad. Inputs must be f64 on the CPU.
inline void check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                            std::vector<Tensor> inputs, double eps = 1e-6, double tol = 1e-6) {
  for (Tensor& x : inputs) REQUIRE(x.dtype() == DType::F64);
  const Tensor probe_out = [&] { NoGrad ng; return f(inputs); }();
  const Tensor weights = random_tensor(probe_out.shape(), 12345u);
  auto objective = [&](const std::vector<Tensor>& xs) { return sum(mul(f(xs), weights)); };

  for (Tensor& x : inputs) if (x.requires_grad()) x.set_grad(Tensor());
  objective(inputs).backward();

  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    const Tensor analytic = inputs[k].grad();
    REQUIRE_MESSAGE(analytic.defined(), "input ", k, " received no gradient");
    const std::vector<double> a = analytic.contiguous().to_vector<double>();
    double* x = inputs[k].data<double>();
    for (int64_t j = 0; j < inputs[k].numel(); ++j) {
      const double saved = x[j];
      double plus, minus;
      {
        NoGrad ng;
        x[j] = saved + eps;
        plus = objective(inputs).item();
        x[j] = saved - eps;
        minus = objective(inputs).item();
        x[j] = saved;
      }
      const double numeric = (plus - minus) / (2 * eps);
      const double scale = std::max(1.0, std::fabs(numeric));
      INFO("input ", k, " element ", j, ": analytic ", a[j], " numeric ", numeric);
      CHECK(std::fabs(a[j] - numeric) <= tol * scale);
    }
  }
}

}  // namespace basin::testing
