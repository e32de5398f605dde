// The SAM-family ascent kernels in CUDA (f32): Backend::sam_perturb,
// asam_perturb, ncsam_perturb, casam_perturb. Squared norms, the CA-SAM count
// and the skip flag are 0-d device tensors each thread reads itself, so the
// host never waits on a value and a whole step can be captured as a graph.
// The factor rho / (|v| + eps) is formed in double and rounded to f32 once,
// as on the CPU; every product and sum uses an explicit round-to-nearest
// intrinsic (no FMA contraction), so given the same squared norms the CPU and
// CUDA results agree bit for bit.
#include <cmath>

#include "cuda/arena_operands.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

__device__ bool flag_set(const float* skip) { return skip && !(*skip == 0.0f); }

__device__ float ascent_factor(double rho, float v_dot, double eps) {
  return static_cast<float>(rho / (sqrt(static_cast<double>(v_dot)) + eps));
}

// e = ((v * a) * s) * s (s = nullptr: e = v * a); w += e. The factor comes from
// the squared norm of v, or of v_alt when use_alt (CA-SAM's fallback to g).
__global__ void ascent_kernel(float* w, float* e, const float* v, const float* v_dot,
                              const float* v_alt, const float* v_alt_dot, const float* count,
                              const float* s, const float* skip, int64_t n, double rho, double eps) {
  const bool alt = count && !(*count > 0.0f);
  const float* dir = alt ? v_alt : v;
  const float a = ascent_factor(rho, alt ? *v_alt_dot : *v_dot, eps);
  const bool skipped = flag_set(skip);
  BASIN_GRID_STRIDE(i, n) {
    if (skipped) {
      e[i] = 0.0f;
      continue;
    }
    float ei = __fmul_rn(dir[i], a);
    if (s) ei = __fmul_rn(__fmul_rn(ei, s[i]), s[i]);
    e[i] = ei;
    w[i] = __fadd_rn(w[i], ei);
  }
}

// NCSAM's direction before the projection: e = g * a + g* * b.
__global__ void ncsam_direction_kernel(float* e, const float* g, const float* h, const float* g_dot,
                                       const float* h_dot, int64_t n, double rho, double eps,
                                       double s_t, const double* s_t_value, double sign, bool normalized) {
  if (s_t_value) s_t = *s_t_value;  // a captured step's s(t), from device memory
  const float a = ascent_factor(rho, *g_dot, eps);
  const double magnitude = normalized ? rho * s_t / (sqrt(static_cast<double>(*h_dot)) + eps) : s_t;
  const float b = static_cast<float>(sign * magnitude);
  BASIN_GRID_STRIDE(i, n) { e[i] = __fadd_rn(__fmul_rn(g[i], a), __fmul_rn(h[i], b)); }
}

// Projection onto the rho-ball and w += e; a non-finite |e| or a set flag: e = 0, w unchanged.
__global__ void ncsam_apply_kernel(float* w, float* e, const float* e_dot, const float* skip,
                                   int64_t n, double rho, bool project) {
  const double norm = sqrt(static_cast<double>(*e_dot));
  const bool skipped = flag_set(skip) || !isfinite(norm);
  const float factor = static_cast<float>(project && norm > rho ? rho / norm : 1.0);
  BASIN_GRID_STRIDE(i, n) {
    if (skipped) {
      e[i] = 0.0f;
      continue;
    }
    const float ei = __fmul_rn(e[i], factor);
    e[i] = ei;
    w[i] = __fadd_rn(w[i], ei);
  }
}

struct AscentOperands {
  float* w;
  float* e;
  int64_t n;
};

AscentOperands ascent_operands(Tensor& w, Tensor& e, const char* op) {
  BASIN_CHECK(w.defined() && e.defined(), "cuda ", op, ": w and e must be defined");
  return {arena_operand(w, w, op, "parameters"), arena_operand(e, w, op, "perturbation e"), w.numel()};
}

// The direction of one ascent_kernel launch: v (and its squared norm), an
// optional fallback direction chosen on the device by count, an optional scale.
struct Direction {
  const float* v = nullptr;
  const float* v_dot = nullptr;
  const float* alt = nullptr;
  const float* alt_dot = nullptr;
  const float* count = nullptr;
  const float* scale = nullptr;
};

void launch_ascent(Tensor& w, Tensor& e, const Direction& d, const Tensor& skip, const AscentParams& p,
                   const char* op) {
  const AscentOperands o = ascent_operands(w, e, op);
  const float* sk = arena_scalar(skip, op, "skip flag");
  if (o.n == 0) return;
  ascent_kernel<<<grid_for(o.n), kThreads, 0, stream()>>>(o.w, o.e, d.v, d.v_dot, d.alt, d.alt_dot, d.count,
                                                          d.scale, sk, o.n, p.rho, p.eps);
  check_launch(op);
}

}  // namespace

void CudaBackend::sam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_dot,
                              const Tensor& skip, const AscentParams& p) {
  BASIN_CHECK(g.defined() && g_dot.defined(), "cuda sam_perturb: g and |g|^2 must be defined");
  Direction d;
  d.v = arena_operand(g, w, "sam_perturb", "gradient g");
  d.v_dot = arena_scalar(g_dot, "sam_perturb", "squared norm |g|^2");
  launch_ascent(w, e, d, skip, p, "sam_perturb");
}

void CudaBackend::asam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& scale,
                               const Tensor& tg_dot, const Tensor& skip, const AscentParams& p) {
  BASIN_CHECK(g.defined() && scale.defined() && tg_dot.defined(),
              "cuda asam_perturb: g, the scale T and |T g|^2 must be defined");
  Direction d;
  d.v = arena_operand(g, w, "asam_perturb", "gradient g");
  d.scale = arena_operand(scale, w, "asam_perturb", "scale T");
  d.v_dot = arena_scalar(tg_dot, "asam_perturb", "squared norm |T g|^2");
  launch_ascent(w, e, d, skip, p, "asam_perturb");
}

void CudaBackend::ncsam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_star,
                                const Tensor& g_dot, const Tensor& g_star_dot, Tensor& e_dot,
                                const Tensor& skip, const NcsamPerturbParams& p) {
  const AscentOperands o = ascent_operands(w, e, "ncsam_perturb");
  BASIN_CHECK(g.defined() && g_star.defined() && g_dot.defined() && g_star_dot.defined() && e_dot.defined(),
              "cuda ncsam_perturb: g, g*, their squared norms and e_dot must be defined");
  const float* gp = arena_operand(g, w, "ncsam_perturb", "gradient g");
  const float* hp = arena_operand(g_star, w, "ncsam_perturb", "compensation gradient g*");
  const float* gd = arena_scalar(g_dot, "ncsam_perturb", "squared norm |g|^2");
  const float* hd = arena_scalar(g_star_dot, "ncsam_perturb", "squared norm |g*|^2");
  const float* ed = arena_scalar(e_dot, "ncsam_perturb", "output |e|^2");
  const float* sk = arena_scalar(skip, "ncsam_perturb", "skip flag");
  const double* st = step_value(p.s_t_value, "ncsam_perturb", "s(t) value");
  if (o.n == 0) return;
  ncsam_direction_kernel<<<grid_for(o.n), kThreads, 0, stream()>>>(
      o.e, gp, hp, gd, hd, o.n, p.rho, p.eps, p.s_t, st, static_cast<double>(p.sign), p.normalized);
  check_launch("ncsam_direction_kernel");
  dot(e, e, e_dot);  // |e|^2 stays on the device for the projection
  ncsam_apply_kernel<<<grid_for(o.n), kThreads, 0, stream()>>>(o.w, o.e, ed, sk, o.n, p.rho, p.project);
  check_launch("ncsam_apply_kernel");
}

void CudaBackend::casam_perturb(Tensor& w, Tensor& e, const Tensor& g_clean, const Tensor& g_clean_dot,
                                const Tensor& g, const Tensor& g_dot, const Tensor& clean_count,
                                const Tensor& skip, const AscentParams& p) {
  BASIN_CHECK(g_clean.defined() && g_clean_dot.defined() && g.defined() && g_dot.defined() &&
                  clean_count.defined(),
              "cuda casam_perturb: g_C, g, their squared norms and the clean count must be defined");
  Direction d;
  d.v = arena_operand(g_clean, w, "casam_perturb", "clean-subset gradient g_C");
  d.v_dot = arena_scalar(g_clean_dot, "casam_perturb", "squared norm |g_C|^2");
  d.alt = arena_operand(g, w, "casam_perturb", "gradient g");
  d.alt_dot = arena_scalar(g_dot, "casam_perturb", "squared norm |g|^2");
  d.count = arena_scalar(clean_count, "casam_perturb", "likely-clean count");
  launch_ascent(w, e, d, skip, p, "casam_perturb");
}

}  // namespace basin::cuda
