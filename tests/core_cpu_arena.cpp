// Tests of the CPU backend's fused optimizer-arena kernels (sgd_step and the
// named ascent kernels sam/asam/ncsam/casam_perturb):
// against plain double loops of the formulas documented in core/backend.h, and
// bit for bit against the composed Backend defaults, for every option combination.
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/ops.h"
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

// A 0-d tensor holding v (rounded to dtype), as the dot kernel leaves a squared norm.
Tensor scalar(double v, DType dtype) { return full({}, v, dtype); }

// Squared norm of a tensor by the backend's dot kernel (what the optimizer hands the kernels).
Tensor squared_norm(const Tensor& v) { return dot(v, v); }

// The host-driven step's arithmetic before the named kernels: a factor formed
// in double from the read-back norm, then the elementwise kernels. The named
// kernels must reproduce it bit for bit.
void composed_ascent(Tensor& w, Tensor& e, const Tensor& g, const Tensor& s, double a) {
  be().binary_scalar(BinaryOp::Mul, g, a, e);
  if (s.defined()) {
    be().binary(BinaryOp::Mul, e, s, e);
    be().binary(BinaryOp::Mul, e, s, e);
  }
  be().binary(BinaryOp::Add, w, e, w);
}

TEST_CASE("core: cpu sam/asam/casam_perturb match the f64 formula and the host-driven arithmetic bit for bit") {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (int64_t n : kSizes) {
      const auto w0 = representable(random_values(n, 31), dtype);
      const auto g = representable(random_values(n, 32), dtype);
      const auto gc = representable(random_values(n, 36), dtype);
      const auto s = representable(random_values(n, 33, 0.5, 2.0), dtype);
      const Shape shape{n};
      const Tensor gt = make(g, shape, dtype), gct = make(gc, shape, dtype), st = make(s, shape, dtype);
      const double rho = 0.05, eps = 1e-12;
      AscentParams p;
      p.rho = rho;
      const Tensor g_dot = squared_norm(gt);
      const double g_norm = std::sqrt(g_dot.item());
      for (int method = 0; method < 4; ++method) {  // sam, asam, casam clean, casam fallback
        INFO(dtype_name(dtype), " n ", n, " method ", method);
        Tensor w = make(w0, shape, dtype), e = zeros(shape, dtype);
        Tensor w_old = make(w0, shape, dtype), e_old = zeros(shape, dtype);
        std::vector<double> w_ref(w0), e_ref(n);
        if (method == 0) {
          be().sam_perturb(w, e, gt, g_dot, Tensor(), p);
          composed_ascent(w_old, e_old, gt, Tensor(), rho / (g_norm + eps));
          for (int64_t i = 0; i < n; ++i) e_ref[i] = rho * g[i] / (g_norm + eps);
        } else if (method == 1) {
          Tensor tg = zeros(shape, dtype);
          be().binary(BinaryOp::Mul, st, gt, tg);
          const Tensor tg_dot = squared_norm(tg);
          const double tg_norm = std::sqrt(tg_dot.item());
          be().asam_perturb(w, e, gt, st, tg_dot, Tensor(), p);
          composed_ascent(w_old, e_old, gt, st, rho / (tg_norm + eps));
          double ref_norm = 0;
          for (int64_t i = 0; i < n; ++i) ref_norm += s[i] * g[i] * s[i] * g[i];
          for (int64_t i = 0; i < n; ++i) e_ref[i] = rho * s[i] * s[i] * g[i] / (std::sqrt(ref_norm) + eps);
        } else {
          const bool clean = method == 2;
          const Tensor gc_dot = squared_norm(gct);
          be().casam_perturb(w, e, gct, gc_dot, gt, g_dot, scalar(clean ? 3.0 : 0.0, dtype), Tensor(), p);
          const double v_norm = clean ? std::sqrt(gc_dot.item()) : g_norm;
          composed_ascent(w_old, e_old, clean ? gct : gt, Tensor(), rho / (v_norm + eps));
          for (int64_t i = 0; i < n; ++i) e_ref[i] = rho * (clean ? gc[i] : g[i]) / (v_norm + eps);
        }
        for (int64_t i = 0; i < n; ++i) w_ref[i] += e_ref[i];
        check_close(values_of(e), e_ref, ref_tol(dtype), "e vs f64 reference");
        check_close(values_of(w), w_ref, ref_tol(dtype), "w vs f64 reference");
        CHECK(same_bits(e, e_old));
        CHECK(same_bits(w, w_old));
      }
    }
  }
}

TEST_CASE("core: cpu ncsam_perturb matches the f64 formula, projects onto the rho-ball, and equals the host-driven arithmetic") {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (int64_t n : kSizes) {
      const auto w0 = representable(random_values(n, 51), dtype);
      const auto g = representable(random_values(n, 52), dtype);
      const auto h = representable(random_values(n, 53), dtype);
      const Shape shape{n};
      const Tensor gt = make(g, shape, dtype), ht = make(h, shape, dtype);
      const Tensor g_dot = squared_norm(gt), h_dot = squared_norm(ht);
      const double g_norm = std::sqrt(g_dot.item()), h_norm = std::sqrt(h_dot.item());
      for (bool normalized : {false, true})
        for (bool project : {false, true})
          for (int sign : {1, -1})
            for (double s_t : {0.02, 0.9}) {  // the large s(t) pushes |e| past rho
              INFO(dtype_name(dtype), " n ", n, " normalized ", normalized, " project ", project,
                   " sign ", sign, " s_t ", s_t);
              NcsamPerturbParams p;
              p.rho = 0.05;
              p.s_t = s_t;
              p.sign = sign;
              p.normalized = normalized;
              p.project = project;
              Tensor w = make(w0, shape, dtype), e = zeros(shape, dtype), e_dot = scalar(0, dtype);
              be().ncsam_perturb(w, e, gt, ht, g_dot, h_dot, e_dot, Tensor(), p);
              // f64 reference
              const double a = p.rho / (g_norm + p.eps);
              const double b = sign * (normalized ? p.rho * s_t / (h_norm + p.eps) : s_t);
              std::vector<double> e_ref(n), w_ref(w0);
              double norm2 = 0;
              for (int64_t i = 0; i < n; ++i) {
                e_ref[i] = a * g[i] + b * h[i];
                norm2 += e_ref[i] * e_ref[i];
              }
              const double factor = project && std::sqrt(norm2) > p.rho ? p.rho / std::sqrt(norm2) : 1.0;
              double applied2 = 0;
              for (int64_t i = 0; i < n; ++i) {
                e_ref[i] *= factor;
                w_ref[i] += e_ref[i];
                applied2 += e_ref[i] * e_ref[i];
              }
              check_close(values_of(e), e_ref, ref_tol(dtype), "e vs f64 reference");
              check_close(values_of(w), w_ref, ref_tol(dtype), "w vs f64 reference");
              CHECK(std::abs(e_dot.item() - norm2) <= 1e-5 * norm2);
              if (project) CHECK(std::sqrt(applied2) <= p.rho * (1 + 1e-6));
              // The host-driven arithmetic: e = g a + h b, |e| read back, e *= rho / |e|, w += e.
              Tensor e_old = zeros(shape, dtype), bh = zeros(shape, dtype), w_old = make(w0, shape, dtype);
              be().binary_scalar(BinaryOp::Mul, gt, a, e_old);
              be().binary_scalar(BinaryOp::Mul, ht, b, bh);
              be().binary(BinaryOp::Add, e_old, bh, e_old);
              const double e_norm = std::sqrt(dot_value(e_old, e_old));
              if (project && e_norm > p.rho) be().binary_scalar(BinaryOp::Mul, e_old, p.rho / e_norm, e_old);
              be().binary(BinaryOp::Add, w_old, e_old, w_old);
              CHECK(same_bits(e, e_old));
              CHECK(same_bits(w, w_old));
            }
    }
  }
}

TEST_CASE("core: a set skip flag makes the ascent kernels write e = 0 and leave w, and sgd_step only restore") {
  const int64_t n = 40013;
  for (DType dtype : {DType::F32, DType::F64}) {
    const Shape shape{n};
    const auto w0 = representable(random_values(n, 61), dtype);
    const Tensor g = make(random_values(n, 62), shape, dtype), g_dot = squared_norm(g);
    for (double flag : {std::nan(""), 1.0, HUGE_VAL}) {
      INFO(dtype_name(dtype), " flag ", flag);
      const Tensor skip = scalar(flag, dtype);
      AscentParams p;
      p.rho = 0.05;
      Tensor w = make(w0, shape, dtype), e = make(random_values(n, 63), shape, dtype);
      be().sam_perturb(w, e, g, g_dot, skip, p);
      CHECK(same_bits(w, make(w0, shape, dtype)));
      CHECK(values_of(e) == std::vector<double>(n, 0.0));
      NcsamPerturbParams q;
      q.rho = 0.05;
      q.s_t = 0.5;
      Tensor e_dot = scalar(0, dtype);
      be().ncsam_perturb(w, e, g, g, g_dot, g_dot, e_dot, skip, q);
      CHECK(same_bits(w, make(w0, shape, dtype)));
      // sgd_step: w -= e only; the momentum buffer keeps its bits.
      const Tensor e_real = make(random_values(n, 64, 0.01, 0.2), shape, dtype);
      Tensor m = make(random_values(n, 65), shape, dtype);
      const Tensor m0 = m.clone();
      SgdStepParams sp;
      sp.lr = 0.1;
      sp.momentum = 0.9;
      sp.skip = skip;
      Tensor w2 = make(w0, shape, dtype);
      be().sgd_step(w2, g, m, Tensor(), e_real, sp);
      Tensor w_want = make(w0, shape, dtype);
      be().binary(BinaryOp::Sub, w_want, e_real, w_want);
      CHECK(same_bits(w2, w_want));
      CHECK(same_bits(m, m0));
    }
    // A zero flag changes nothing: the same bits as no flag at all.
    AscentParams p;
    p.rho = 0.05;
    Tensor w_a = make(w0, shape, dtype), e_a = zeros(shape, dtype);
    Tensor w_b = make(w0, shape, dtype), e_b = zeros(shape, dtype);
    be().sam_perturb(w_a, e_a, g, g_dot, scalar(0.0, dtype), p);
    be().sam_perturb(w_b, e_b, g, g_dot, Tensor(), p);
    CHECK(same_bits(w_a, w_b));
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
  const Tensor g_dot = dot(g, g);
  AscentParams a;
  a.rho = 0.05;
  CHECK_THROWS_AS(be().sam_perturb(w, e, short_g, g_dot, none, a), Error);
  CHECK_THROWS_AS(be().sam_perturb(w, e, strided, g_dot, none, a), Error);
  CHECK_THROWS_AS(be().sam_perturb(w, e, g, g, none, a), Error);  // |g|^2 must be one element
  CHECK_THROWS_AS(be().sam_perturb(w, e, g, dot(g_f32, g_f32), none, a), Error);
  CHECK_THROWS_AS(be().asam_perturb(w, e, g, short_g, g_dot, none, a), Error);
  CHECK_THROWS_AS(be().asam_perturb(w, e, g, none, g_dot, none, a), Error);
  Tensor e_dot = zeros({}, DType::F64);
  CHECK_THROWS_AS(be().ncsam_perturb(w, e, g, short_g, g_dot, g_dot, e_dot, none, NcsamPerturbParams{}), Error);
  CHECK_THROWS_AS(be().casam_perturb(w, e, g, g_dot, g, g_dot, none, none, a), Error);  // no count
  CHECK_THROWS_AS(be().sam_perturb(w, e, g, g_dot, g, a), Error);  // skip flag must be one element
}
