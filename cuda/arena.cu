// Optimizer-arena update (f32): Backend::sgd_step as one grid-stride launch
// over the whole flat arena (the ascent kernels are in perturb.cu). Absent optional operands
// (decay mask, e, s, h, momentum when unused) arrive as nullptr.
#include "cuda/cuda_backend.h"
#include "cuda/arena_operands.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

// Every multiply and add uses an explicit round-to-nearest intrinsic: nvcc would
// otherwise contract x * y + z into an FMA, skipping the rounding the CPU
// backend (and the composed default) performs, and parity would differ in the
// last bits.
__global__ void sgd_step_kernel(float* w, const float* g, float* m, const float* mask,
                                const float* e, const float* skip, int64_t n, float lr,
                                const double* lr_value, float momentum, float weight_decay, bool decay,
                                bool nesterov) {
  // A captured step's learning rate lives in device memory (the same double, rounded once).
  if (lr_value) lr = static_cast<float>(*lr_value);
  // The step's skip flag, read on the device: non-zero or NaN = only undo e.
  const bool skipped = skip && !(*skip == 0.0f);
  BASIN_GRID_STRIDE(i, n) {
    float wi = w[i];
    if (e) wi = __fsub_rn(wi, e[i]);
    if (skipped) {
      if (e) w[i] = wi;
      continue;
    }
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

}  // namespace

float* arena_operand(const Tensor& t, const Tensor& w, const char* op, const char* operand) {
  if (!t.defined()) return nullptr;
  require_f32(t, op);
  BASIN_CHECK(t.is_contiguous(), "cuda ", op, ": ", operand, " ", t.str(), " must be contiguous");
  BASIN_CHECK(t.numel() == w.numel(), "cuda ", op, ": ", operand, " ", t.str(), " has ",
              t.numel(), " elements, expected ", w.numel(), " (the arena's size)");
  return data_ptr<float>(t);
}

float* arena_scalar(const Tensor& t, const char* op, const char* operand) {
  if (!t.defined()) return nullptr;
  require_f32(t, op);
  BASIN_CHECK(t.numel() == 1, "cuda ", op, ": ", operand, " ", t.str(), " must have one element");
  return data_ptr<float>(t);
}

const double* step_value(const Tensor& t, const char* op, const char* operand) {
  if (!t.defined()) return nullptr;
  BASIN_CHECK(t.dtype() == DType::F64 && t.numel() == 1, "cuda ", op, ": ", operand, " ", t.str(),
              " must be an f64 tensor of one element");
  return data_ptr<double>(t);
}

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
  const float* skip = arena_scalar(p.skip, "sgd_step", "skip flag");
  const double* lr_value = step_value(p.lr_value, "sgd_step", "learning rate value");
  const int64_t n = w.numel();
  if (n == 0) return;
  sgd_step_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      wp, gp, mp, mask, ep, skip, n, static_cast<float>(p.lr), lr_value, static_cast<float>(p.momentum),
      static_cast<float>(p.weight_decay), p.weight_decay != 0.0, p.nesterov);
  check_launch("sgd_step_kernel");
}

}  // namespace basin::cuda
