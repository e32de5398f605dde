// CPU SAM-family ascent kernels (Backend::sam_perturb, asam_perturb,
// ncsam_perturb, casam_perturb): one OpenMP-parallel pass over the flat arena
// each, plus NCSAM's norm and projection. The squared norms arrive as 0-d
// tensors the kernel reads itself; the scalar factors are formed in double
// from them and rounded to the arena's dtype once, exactly as the host-side
// step did before (docs/optimizers.md, "The step on the device"), so the
// weights come out bit for bit the same.
#include <cmath>

#include "core/cpu/cpu_arena_util.h"
#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

// No FMA contraction here either: see cpu_arena_util.h.

namespace basin::cpu {

namespace {

// rho / (|v| + eps) with |v| = sqrt(v_dot), in double.
double ascent_factor(double rho, double v_dot, double eps) { return rho / (std::sqrt(v_dot) + eps); }

// e = ((g * a) * s) * s  (s = nullptr: e = g * a); w += e. skip: e = 0, w unchanged.
template <class T>
void ascent_pass(T* w, T* e, const T* g, const T* s, int64_t n, T a, bool skip) {
  if (skip) {
    for (int64_t i = 0; i < n; ++i) e[i] = T(0);
    return;
  }
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T ei = g[i] * a;
    if (s) {
      ei = ei * s[i];
      ei = ei * s[i];
    }
    e[i] = ei;
    w[i] = w[i] + ei;
  }
}

void check_ascent(const char* op, const Tensor& w, const Tensor& e, const Tensor& skip) {
  BASIN_CHECK(w.defined() && e.defined(), "cpu backend ", op, ": w and e must be defined");
  check_contiguous(op, w);
  check_arena_operand(op, e, w, "perturbation e");
  check_skip_flag(op, skip, w);
}

}  // namespace

void CpuBackend::sam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_dot,
                             const Tensor& skip, const AscentParams& p) {
  check_ascent("sam_perturb", w, e, skip);
  check_arena_operand("sam_perturb", g, w, "gradient g");
  check_arena_scalar("sam_perturb", g_dot, w, "squared norm |g|^2");
  dispatch_floating(w.dtype(), "sam_perturb", [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(ascent_factor(p.rho, scalar_value<T>(g_dot), p.eps));
    ascent_pass<T>(w.data<T>(), e.data<T>(), g.data<T>(), nullptr, w.numel(), a, skip_flag_set<T>(skip));
  });
}

void CpuBackend::asam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& scale,
                              const Tensor& tg_dot, const Tensor& skip, const AscentParams& p) {
  check_ascent("asam_perturb", w, e, skip);
  check_arena_operand("asam_perturb", g, w, "gradient g");
  BASIN_CHECK(scale.defined(), "cpu backend asam_perturb: the scale T must be defined");
  check_arena_operand("asam_perturb", scale, w, "scale T");
  check_arena_scalar("asam_perturb", tg_dot, w, "squared norm |T g|^2");
  dispatch_floating(w.dtype(), "asam_perturb", [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(ascent_factor(p.rho, scalar_value<T>(tg_dot), p.eps));
    ascent_pass<T>(w.data<T>(), e.data<T>(), g.data<T>(), scale.data<T>(), w.numel(), a,
                   skip_flag_set<T>(skip));
  });
}

void CpuBackend::ncsam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_star,
                               const Tensor& g_dot, const Tensor& g_star_dot, Tensor& e_dot,
                               const Tensor& skip, const NcsamPerturbParams& p) {
  check_ascent("ncsam_perturb", w, e, skip);
  check_arena_operand("ncsam_perturb", g, w, "gradient g");
  BASIN_CHECK(g_star.defined(), "cpu backend ncsam_perturb: g* must be defined");
  check_arena_operand("ncsam_perturb", g_star, w, "compensation gradient g*");
  check_arena_scalar("ncsam_perturb", g_dot, w, "squared norm |g|^2");
  check_arena_scalar("ncsam_perturb", g_star_dot, w, "squared norm |g*|^2");
  check_arena_scalar("ncsam_perturb", e_dot, w, "output |e|^2");
  dispatch_floating(w.dtype(), "ncsam_perturb", [&](auto tag) {
    using T = decltype(tag);
    const double s_t = step_value("ncsam_perturb", p.s_t_value, p.s_t, "s(t) value");
    const double magnitude = p.normalized
                                 ? p.rho * s_t / (std::sqrt(scalar_value<T>(g_star_dot)) + p.eps)
                                 : s_t;
    const T a = static_cast<T>(ascent_factor(p.rho, scalar_value<T>(g_dot), p.eps));
    const T b = static_cast<T>(static_cast<double>(p.sign) * magnitude);
    T* ep = e.data<T>();
    const T* gp = g.data<T>();
    const T* hp = g_star.data<T>();
    const int64_t n = w.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const T ga = gp[i] * a;
      const T hb = hp[i] * b;
      ep[i] = ga + hb;
    }
    dot(e, e, e_dot);  // the reduction every norm uses: same bits as dot_value(e, e)
    const double norm = std::sqrt(scalar_value<T>(e_dot));
    const bool skipped = skip_flag_set<T>(skip) || !std::isfinite(norm);
    // Projection onto the rho-ball: one factor rho / |e| rounded to T, as e.mul_() did
    // (e * 1 = e exactly when there is nothing to project).
    const T factor = static_cast<T>(p.project && norm > p.rho ? p.rho / norm : 1.0);
    ascent_pass<T>(w.data<T>(), ep, ep, nullptr, n, factor, skipped);
  });
}

void CpuBackend::casam_perturb(Tensor& w, Tensor& e, const Tensor& g_clean, const Tensor& g_clean_dot,
                               const Tensor& g, const Tensor& g_dot, const Tensor& clean_count,
                               const Tensor& skip, const AscentParams& p) {
  check_ascent("casam_perturb", w, e, skip);
  check_arena_operand("casam_perturb", g_clean, w, "clean-subset gradient g_C");
  check_arena_operand("casam_perturb", g, w, "gradient g");
  BASIN_CHECK(g_clean.defined() && g.defined(), "cpu backend casam_perturb: g_C and g must be defined");
  check_arena_scalar("casam_perturb", g_clean_dot, w, "squared norm |g_C|^2");
  check_arena_scalar("casam_perturb", g_dot, w, "squared norm |g|^2");
  check_arena_scalar("casam_perturb", clean_count, w, "likely-clean count");
  dispatch_floating(w.dtype(), "casam_perturb", [&](auto tag) {
    using T = decltype(tag);
    const bool clean = scalar_value<T>(clean_count) > 0;
    const Tensor& v = clean ? g_clean : g;
    const T a = static_cast<T>(ascent_factor(p.rho, scalar_value<T>(clean ? g_clean_dot : g_dot), p.eps));
    ascent_pass<T>(w.data<T>(), e.data<T>(), v.data<T>(), nullptr, w.numel(), a, skip_flag_set<T>(skip));
  });
}

}  // namespace basin::cpu
