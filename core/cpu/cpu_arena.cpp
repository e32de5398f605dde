// CPU optimizer-arena kernels: Backend::sgd_step and Backend::perturb as one
// OpenMP-parallel pass each over the flat arena (f32 and f64). Each element
// goes through the same sequence of roundings as the composed default in
// core/backend_arena.cpp, so both give the same bits.
#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

// A fused multiply-add would skip a rounding the composed default performs and
// break bit-equality with it (and with the CUDA kernels, which use explicit
// round-to-nearest intrinsics). ISO C++ mode (-std=c++17) already means no
// contraction on GCC, but a GNU-mode or -ffp-contract=fast build would
// contract; these pragmas pin it off for every function below.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

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

template <class T>
struct PerturbArena {
  T* w;
  T* e;
  const T* g;
  const T* s;  // nullptr: s = 1
  const T* h;  // nullptr: h = 0
  int64_t n;
  T a, b;
  bool apply;
};

template <class T>
void perturb_pass(const PerturbArena<T> p) {
#pragma omp parallel for schedule(static) if (p.n >= kParallelGrain)
  for (int64_t i = 0; i < p.n; ++i) {
    T e = p.g[i] * p.a;
    if (p.s) {
      e = e * p.s[i];
      e = e * p.s[i];
    }
    if (p.h) {
      const T bh = p.h[i] * p.b;
      e = e + bh;
    }
    p.e[i] = e;
    if (p.apply) p.w[i] = p.w[i] + e;
  }
}

// Every arena operand shares w's layout: same element count and dtype, contiguous.
void check_arena_operand(const char* op, const Tensor& t, const Tensor& w, const char* operand) {
  if (!t.defined()) return;
  check_contiguous(op, t);
  check_dtype(t, w.dtype(), op, operand);
  check_numel(t, w.numel(), op, operand);
}

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
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
  if (w.numel() == 0) return;
  dispatch_floating(w.dtype(), "sgd_step", [&](auto tag) {
    using T = decltype(tag);
    SgdArena<T> a;
    a.w = static_cast<T*>(w.raw_data());
    a.g = data_or_null<const T>(g);
    a.m = use_momentum ? static_cast<T*>(m.raw_data()) : nullptr;
    a.mask = data_or_null<const T>(decay_mask);
    a.e = data_or_null<const T>(e);
    a.n = w.numel();
    a.lr = static_cast<T>(p.lr);
    a.momentum = static_cast<T>(p.momentum);
    a.weight_decay = static_cast<T>(p.weight_decay);
    a.decay = p.weight_decay != 0.0;
    a.nesterov = p.nesterov;
    sgd_step_pass<T>(a);
  });
}

void CpuBackend::perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& s, double a,
                         const Tensor& h, double b, bool apply) {
  BASIN_CHECK(w.defined() && e.defined() && g.defined(),
              "cpu backend perturb: w, e and g must be defined");
  check_contiguous("perturb", w);
  check_arena_operand("perturb", e, w, "perturbation e");
  check_arena_operand("perturb", g, w, "gradients");
  check_arena_operand("perturb", s, w, "scale s");
  check_arena_operand("perturb", h, w, "direction h");
  if (w.numel() == 0) return;
  dispatch_floating(w.dtype(), "perturb", [&](auto tag) {
    using T = decltype(tag);
    PerturbArena<T> q;
    q.w = static_cast<T*>(w.raw_data());
    q.e = static_cast<T*>(e.raw_data());
    q.g = data_or_null<const T>(g);
    q.s = data_or_null<const T>(s);
    q.h = data_or_null<const T>(h);
    q.n = w.numel();
    q.a = static_cast<T>(a);
    q.b = static_cast<T>(b);
    q.apply = apply;
    perturb_pass<T>(q);
  });
}

}  // namespace basin::cpu
