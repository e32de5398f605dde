// Tests of the CPU backend's fused optimizer-arena kernels (sgd_step, perturb):
// against plain double loops of the formulas documented in core/backend.h, and
// bit for bit against the composed Backend defaults, for every option combination.
#include <cstring>
#include <sstream>

#include "tests/cpu_backend_testing.h"

using namespace basin;
using namespace basin::cpu_testing;

namespace {

// One size below the OpenMP threshold, one above it (with a ragged tail).
const int64_t kSizes[] = {37, 40013};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel() || a.dtype() != b.dtype()) return false;
  const size_t bytes = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  return std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0;
}

// Inputs are rounded to the tensor's dtype first, so the double reference
// starts from exactly the values the kernel sees.
std::vector<double> representable(const std::vector<double>& v, DType dtype) {
  return values_of(make(v, {static_cast<int64_t>(v.size())}, dtype));
}

// 0/1 per element, both present in every prefix that matters.
std::vector<double> random_mask(int64_t n, uint32_t seed) {
  std::vector<double> v = random_values(n, seed);
  for (double& x : v) x = x > 0 ? 1.0 : 0.0;
  v[0] = 1.0;
  if (n > 1) v[1] = 0.0;
  return v;
}

// Tolerance of a kernel result against the double reference.
double ref_tol(DType dtype) { return dtype == DType::F32 ? 1e-5 : 1e-13; }

struct SgdCase {
  double momentum, weight_decay;
  bool nesterov, with_mask, with_e;
  std::string str() const {
    std::ostringstream s;
    s << "momentum " << momentum << " weight_decay " << weight_decay << " nesterov " << nesterov
      << " mask " << with_mask << " e " << with_e;
    return s.str();
  }
};

std::vector<SgdCase> all_sgd_cases() {
  std::vector<SgdCase> cases;
  for (double momentum : {0.0, 0.9})
    for (double wd : {0.0, 0.1})
      for (bool nesterov : {false, true})
        for (bool mask : {false, true})
          for (bool e : {false, true}) cases.push_back({momentum, wd, nesterov, mask, e});
  return cases;
}

}  // namespace

TEST_CASE("core: cpu sgd_step fused pass matches the documented formula and the composed default") {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (int64_t n : kSizes) {
      const auto w0 = representable(random_values(n, 11), dtype);
      const auto g = representable(random_values(n, 12), dtype);
      const auto m0 = representable(random_values(n, 13), dtype);
      const auto e = representable(random_values(n, 14, -0.2, 0.2), dtype);
      const auto mask = random_mask(n, 15);
      for (const SgdCase& c : all_sgd_cases()) {
        INFO(dtype_name(dtype), " n ", n, " ", c.str());
        SgdStepParams p;
        p.lr = 0.05;
        p.momentum = c.momentum;
        p.weight_decay = c.weight_decay;
        p.nesterov = c.nesterov;

        // Reference: the formulas of backend.h in double.
        std::vector<double> w_ref(w0), m_ref(m0);
        for (int64_t i = 0; i < n; ++i) {
          double w = w_ref[i];
          if (c.with_e) w -= e[i];
          const double d = g[i] + c.weight_decay * (c.with_mask ? mask[i] : 1.0) * w;
          double step = d;
          if (c.momentum != 0.0) {
            m_ref[i] = c.momentum * m_ref[i] + d;
            step = c.nesterov ? d + c.momentum * m_ref[i] : m_ref[i];
          }
          w_ref[i] = w - p.lr * step;
        }

        const Shape shape{n};
        const Tensor gt = make(g, shape, dtype);
        const Tensor mask_t = c.with_mask ? make(mask, shape, dtype) : Tensor();
        const Tensor e_t = c.with_e ? make(e, shape, dtype) : Tensor();
        Tensor w_fused = make(w0, shape, dtype), m_fused = make(m0, shape, dtype);
        Tensor w_default = make(w0, shape, dtype), m_default = make(m0, shape, dtype);
        be().sgd_step(w_fused, gt, m_fused, mask_t, e_t, p);
        be().Backend::sgd_step(w_default, gt, m_default, mask_t, e_t, p);

        check_close(values_of(w_fused), w_ref, ref_tol(dtype), "w vs reference");
        check_close(values_of(m_fused), m_ref, ref_tol(dtype), "momentum vs reference");
        CHECK(same_bits(w_fused, w_default));
        CHECK(same_bits(m_fused, m_default));
        if (c.momentum == 0.0) CHECK(values_of(m_fused) == m0);  // the buffer is not touched
      }
    }
  }
}

TEST_CASE("core: cpu sgd_step without momentum needs no momentum buffer") {
  const int64_t n = 50;
  const auto w0 = random_values(n, 21), g = random_values(n, 22);
  Tensor w = make(w0, {n}), none;
  SgdStepParams p;
  p.lr = 0.5;
  p.weight_decay = 0.01;
  be().sgd_step(w, make(g, {n}), none, Tensor(), Tensor(), p);
  std::vector<double> want(w0);
  for (int64_t i = 0; i < n; ++i) want[i] = w0[i] - 0.5 * (g[i] + 0.01 * w0[i]);
  check_close(values_of(w), want, 1e-14, "w");
}

TEST_CASE("core: cpu perturb fused pass matches the documented formula and the composed default") {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (int64_t n : kSizes) {
      const auto w0 = representable(random_values(n, 31), dtype);
      const auto g = representable(random_values(n, 32), dtype);
      const auto s = representable(random_values(n, 33, 0.5, 2.0), dtype);
      const auto h = representable(random_values(n, 34), dtype);
      const auto e0 = representable(random_values(n, 35), dtype);  // overwritten, never read
      const double a = 0.37, b = -0.8;
      for (bool with_s : {false, true})
        for (bool with_h : {false, true})
          for (bool apply : {false, true}) {
            INFO(dtype_name(dtype), " n ", n, " s ", with_s, " h ", with_h, " apply ", apply);
            std::vector<double> e_ref(n), w_ref(w0);
            for (int64_t i = 0; i < n; ++i) {
              const double si = with_s ? s[i] : 1.0;
              e_ref[i] = a * si * si * g[i] + (with_h ? b * h[i] : 0.0);
              if (apply) w_ref[i] += e_ref[i];
            }
            const Shape shape{n};
            const Tensor gt = make(g, shape, dtype);
            const Tensor s_t = with_s ? make(s, shape, dtype) : Tensor();
            const Tensor h_t = with_h ? make(h, shape, dtype) : Tensor();
            Tensor w_fused = make(w0, shape, dtype), e_fused = make(e0, shape, dtype);
            Tensor w_default = make(w0, shape, dtype), e_default = make(e0, shape, dtype);
            be().perturb(w_fused, e_fused, gt, s_t, a, h_t, b, apply);
            be().Backend::perturb(w_default, e_default, gt, s_t, a, h_t, b, apply);

            check_close(values_of(e_fused), e_ref, ref_tol(dtype), "e vs reference");
            check_close(values_of(w_fused), w_ref, ref_tol(dtype), "w vs reference");
            CHECK(same_bits(e_fused, e_default));
            CHECK(same_bits(w_fused, w_default));
          }
    }
  }
}

TEST_CASE("core: cpu arena kernels reject mismatched arenas with an Error") {
  const int64_t n = 8;
  Tensor w = make(random_values(n, 41), {n}), g = make(random_values(n, 42), {n});
  Tensor m = make(random_values(n, 43), {n}), none;
  Tensor short_g = make(random_values(n - 1, 44), {n - 1});
  Tensor g_f32 = make(random_values(n, 45), {n}, DType::F32);
  Tensor w_i64 = zeros({n}, DType::I64), g_i64 = zeros({n}, DType::I64);
  Tensor strided = make(random_values(n, 46), {2, n / 2}).t();  // n elements, not contiguous
  SgdStepParams p;
  p.lr = 0.1;
  p.momentum = 0.9;
  CHECK_THROWS_AS(be().sgd_step(w, short_g, m, none, none, p), Error);
  CHECK_THROWS_AS(be().sgd_step(w, g_f32, m, none, none, p), Error);
  CHECK_THROWS_AS(be().sgd_step(w, g, none, none, none, p), Error);  // momentum, no buffer
  CHECK_THROWS_AS(be().sgd_step(w, g, m, short_g, none, p), Error);
  CHECK_THROWS_AS(be().sgd_step(w, g, m, none, short_g, p), Error);
  CHECK_THROWS_AS(be().sgd_step(w_i64, g_i64, none, none, none, SgdStepParams{}), Error);
  Tensor e = make(random_values(n, 47), {n});
  CHECK_THROWS_AS(be().perturb(w, e, short_g, none, 1.0, none, 0.0, true), Error);
  CHECK_THROWS_AS(be().perturb(w, e, g, g_f32, 1.0, none, 0.0, true), Error);
  CHECK_THROWS_AS(be().perturb(w, e, g, none, 1.0, short_g, 0.5, true), Error);
  CHECK_THROWS_AS(be().perturb(w, e, strided, none, 1.0, none, 0.0, true), Error);
}
