// Helpers for the CPU backend tests: build tensors from double vectors and read
// them back through the backend's own cast, so the tests exercise the Backend
// methods directly and compare against plain double loops.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/tensor.h"

namespace basin::cpu_testing {

inline Backend& be() { return cpu_backend(); }

// Uniform in [lo, hi], at least 0.1 away from zero when the range spans it.
inline std::vector<double> random_values(int64_t n, uint32_t seed, double lo = -1.0,
                                         double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) {
    do { x = dist(rng); } while (lo < 0 && hi > 0 && std::fabs(x) < 0.1);
  }
  return v;
}

// A contiguous tensor of `dtype` holding `values` (converted by the backend's cast).
inline Tensor make(const std::vector<double>& values, const Shape& shape, DType dtype = DType::F64) {
  Tensor f64 = from_vector<double>(values, shape);
  if (dtype == DType::F64) return f64;
  Tensor out = empty(shape, dtype);
  be().cast(f64, out);
  return out;
}

// The values of a contiguous tensor as doubles.
inline std::vector<double> values_of(const Tensor& t) {
  Tensor f64 = empty(t.shape(), DType::F64);
  be().cast(t, f64);
  const double* p = f64.data<double>();
  return std::vector<double>(p, p + t.numel());
}

// Tolerance for results computed in `dtype` against a double reference.
inline double tol_for(DType dtype) { return dtype == DType::F32 ? 2e-6 : 1e-13; }

inline void check_close(const std::vector<double>& got, const std::vector<double>& want,
                        double rel_tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double scale = std::max(1.0, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= rel_tol * scale)) {
      FAIL_CHECK(what << ": element " << i << " got " << got[i] << " want " << want[i]);
      return;
    }
  }
}

}  // namespace basin::cpu_testing
