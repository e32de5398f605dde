// Optimizer-arena kernels (f32): Backend::sgd_step and Backend::perturb as one
// grid-stride launch each over the whole flat arena. Absent optional operands
// (decay mask, e, s, h, momentum when unused) arrive as nullptr.
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

// Every multiply and add uses an explicit round-to-nearest intrinsic: nvcc would
// otherwise contract x * y + z into an FMA, skipping the rounding the CPU
// backend (and the composed default) performs, and parity would differ in the
// last bits.
__global__ void sgd_step_kernel(float* w, const float* g, float* m, const float* mask,
                                const float* e, int64_t n, float lr, float momentum,
                                float weight_decay, bool decay, bool nesterov) {
  BASIN_GRID_STRIDE(i, n) {
    float wi = w[i];
    if (e) wi = __fsub_rn(wi, e[i]);
    const float gi = g[i];
    float d = gi;
    if (decay) {
      float decayed = __fmul_rn(wi, weight_decay);
      if (mask) decayed = __fmul_rn(decayed, mask[i]);
      d = __fadd_rn(decayed, gi);
    }
    float step = d;
    if (m) {
      const float mi = __fadd_rn(__fmul_rn(m[i], momentum), d);
      m[i] = mi;
      step = nesterov ? __fadd_rn(__fmul_rn(mi, momentum), d) : mi;
    }
    w[i] = __fsub_rn(wi, __fmul_rn(step, lr));
  }
}

__global__ void perturb_kernel(float* w, float* e, const float* g, const float* s,
                               const float* h, int64_t n, float a, float b, bool apply) {
  BASIN_GRID_STRIDE(i, n) {
    float ei = __fmul_rn(g[i], a);
    if (s) {
      const float si = s[i];
      ei = __fmul_rn(__fmul_rn(ei, si), si);
    }
    if (h) ei = __fadd_rn(ei, __fmul_rn(h[i], b));
    e[i] = ei;
    if (apply) w[i] = __fadd_rn(w[i], ei);
  }
}

// Arena operands share w's layout: f32, contiguous, same element count.
float* arena_operand(const Tensor& t, const Tensor& w, const char* op, const char* operand) {
  if (!t.defined()) return nullptr;
  require_f32(t, op);
  BASIN_CHECK(t.is_contiguous(), "cuda ", op, ": ", operand, " ", t.str(), " must be contiguous");
  BASIN_CHECK(t.numel() == w.numel(), "cuda ", op, ": ", operand, " ", t.str(), " has ",
              t.numel(), " elements, expected ", w.numel(), " (the arena's size)");
  return data_ptr<float>(t);
}

}  // namespace

void CudaBackend::sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask,
                           const Tensor& e, const SgdStepParams& p) {
  BASIN_CHECK(w.defined() && g.defined(), "cuda sgd_step: parameters and gradients must be defined");
  float* wp = arena_operand(w, w, "sgd_step", "parameters");
  const float* gp = arena_operand(g, w, "sgd_step", "gradients");
  const float* mask = arena_operand(decay_mask, w, "sgd_step", "decay_mask");
  const float* ep = arena_operand(e, w, "sgd_step", "perturbation e");
  float* mp = nullptr;
  if (p.momentum != 0.0) {
    BASIN_CHECK(m.defined(), "cuda sgd_step: momentum ", p.momentum, " needs a momentum buffer");
    mp = arena_operand(m, w, "sgd_step", "momentum buffer");
  }
  const int64_t n = w.numel();
  if (n == 0) return;
  sgd_step_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      wp, gp, mp, mask, ep, n, static_cast<float>(p.lr), static_cast<float>(p.momentum),
      static_cast<float>(p.weight_decay), p.weight_decay != 0.0, p.nesterov);
  check_launch("sgd_step_kernel");
}

void CudaBackend::perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& s, double a,
                          const Tensor& h, double b, bool apply) {
  BASIN_CHECK(w.defined() && e.defined() && g.defined(), "cuda perturb: w, e and g must be defined");
  float* wp = arena_operand(w, w, "perturb", "parameters");
  float* ep = arena_operand(e, w, "perturb", "perturbation e");
  const float* gp = arena_operand(g, w, "perturb", "gradients");
  const float* sp = arena_operand(s, w, "perturb", "scale s");
  const float* hp = arena_operand(h, w, "perturb", "direction h");
  const int64_t n = w.numel();
  if (n == 0) return;
  perturb_kernel<<<grid_for(n), kThreads, 0, stream()>>>(wp, ep, gp, sp, hp, n,
                                                         static_cast<float>(a),
                                                         static_cast<float>(b), apply);
  check_launch("perturb_kernel");
}

}  // namespace basin::cuda
