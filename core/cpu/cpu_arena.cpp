// CPU optimizer-arena update: Backend::sgd_step as one OpenMP-parallel pass
// over the flat arena (f32 and f64); the ascent kernels are in
// cpu_perturb.cpp. Each element
// goes through the same sequence of roundings as the composed default in
// core/backend_arena.cpp, so both give the same bits.
#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_arena_util.h"
#include "core/cpu/cpu_kernel_util.h"

// FMA contraction is off for this file: see cpu_arena_util.h.

namespace basin::cpu {

namespace {

// Optional operands arrive as nullptr; the branches on them are loop-invariant.
template <class T>
struct SgdArena {
  T* w;
  const T* g;
  T* m;               // nullptr when momentum == 0
  const T* mask;      // nullptr: decay everywhere
  const T* e;         // nullptr: no perturbation to undo
  int64_t n;
  T lr, momentum, weight_decay;
  bool decay;  // weight_decay != 0 as a double, as the composed default decides
  bool nesterov;
};

// w -= e: undoes a perturbation (w - e, the same rounding as sgd_step_pass's first operation).
template <class T>
void restore_pass(T* w, const T* e, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) w[i] = w[i] - e[i];
}

template <class T>
void sgd_step_pass(const SgdArena<T> a) {
#pragma omp parallel for schedule(static) if (a.n >= kParallelGrain)
  for (int64_t i = 0; i < a.n; ++i) {
    T w = a.w[i];
    if (a.e) w = w - a.e[i];
    T d = a.g[i];
    if (a.decay) {
      T decayed = w * a.weight_decay;
      if (a.mask) decayed = decayed * a.mask[i];
      d = decayed + a.g[i];
    }
    T step = d;
    if (a.m) {
      const T m = a.m[i] * a.momentum + d;
      a.m[i] = m;
      step = a.nesterov ? m * a.momentum + d : m;
    }
    const T scaled = step * a.lr;
    a.w[i] = w - scaled;
  }
}

}  // namespace

void CpuBackend::sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask,
                          const Tensor& e, const SgdStepParams& p) {
  BASIN_CHECK(w.defined() && g.defined(), "cpu backend sgd_step: parameters and gradients must be defined");
  check_contiguous("sgd_step", w);
  check_arena_operand("sgd_step", g, w, "gradients");
  check_arena_operand("sgd_step", decay_mask, w, "decay_mask");
  check_arena_operand("sgd_step", e, w, "perturbation e");
  const bool use_momentum = p.momentum != 0.0;
  if (use_momentum) {
    BASIN_CHECK(m.defined(), "cpu backend sgd_step: momentum ", p.momentum,
                " needs a momentum buffer");
    check_arena_operand("sgd_step", m, w, "momentum buffer");
  }
  check_skip_flag("sgd_step", p.skip, w);
  if (w.numel() == 0) return;
  dispatch_floating(w.dtype(), "sgd_step", [&](auto tag) {
    using T = decltype(tag);
    if (skip_flag_set<T>(p.skip)) {  // skipped on the device: only undo the perturbation
      if (e.defined()) restore_pass<T>(static_cast<T*>(w.raw_data()), e.data<T>(), w.numel());
      return;
    }
    SgdArena<T> a;
    a.w = static_cast<T*>(w.raw_data());
    a.g = data_or_null<const T>(g);
    a.m = use_momentum ? static_cast<T*>(m.raw_data()) : nullptr;
    a.mask = data_or_null<const T>(decay_mask);
    a.e = data_or_null<const T>(e);
    a.n = w.numel();
    a.lr = static_cast<T>(step_value("sgd_step", p.lr_value, p.lr, "learning rate value"));
    a.momentum = static_cast<T>(p.momentum);
    a.weight_decay = static_cast<T>(p.weight_decay);
    a.decay = p.weight_decay != 0.0;
    a.nesterov = p.nesterov;
    sgd_step_pass<T>(a);
  });
}

}  // namespace basin::cpu
