// Helpers for the core suite's independent checks: read any tensor back as
// doubles, compare against values computed by plain double loops in the tests,
// and walk multi-indices for the broadcasting and reduction references.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "gradcheck.h"

namespace basin::testing {

// Element values in row-major order, read with the tensor's own dtype so the
// check does not depend on the engine's cast kernel.
inline std::vector<double> to_doubles(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<double> out;
  auto append = [&](const auto& values) { out.assign(values.begin(), values.end()); };
  switch (c.dtype()) {
    case DType::F32: append(c.to_vector<float>()); break;
    case DType::F64: append(c.to_vector<double>()); break;
    case DType::I32: append(c.to_vector<int32_t>()); break;
    case DType::I64: append(c.to_vector<int64_t>()); break;
    case DType::U8: append(c.to_vector<uint8_t>()); break;
  }
  return out;
}

// Relative tolerance (against max(1, |expected|)) for one rounding-level check.
inline double tolerance(DType dtype) { return dtype == DType::F32 ? 1e-5 : 1e-12; }

// Reports the first few mismatching elements and how many there were in all.
inline void check_close(const std::vector<double>& got, const std::vector<double>& expected,
                        double tol, const std::string& what) {
  REQUIRE_MESSAGE(got.size() == expected.size(), what, ": got ", got.size(), " elements, expected ",
                  expected.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double scale = std::max(1.0, std::fabs(expected[i]));
    if (!(std::fabs(got[i] - expected[i]) <= tol * scale)) {
      if (bad < 4) FAIL_CHECK(what, ": element ", i, " got ", got[i], " expected ", expected[i]);
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", got.size(), " elements differ");
}

inline void check_tensor(const Tensor& got, const Shape& shape, const std::vector<double>& expected,
                         double tol, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what, ": undefined result");
  CHECK_MESSAGE(got.shape() == shape, what, ": shape ", shape_str(got.shape()), " expected ",
                shape_str(shape));
  if (got.shape() != shape) return;
  check_close(to_doubles(got), expected, tol, what);
}

inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
  return flat;
}

inline int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

// Runs f, which must throw basin::Error, and returns its message ("" and a
// failed check when it does not throw or throws something else).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("threw a non-basin exception: ", e.what());
    return "";
  }
  FAIL_CHECK("expected basin::Error, nothing was thrown");
  return "";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace basin::testing
