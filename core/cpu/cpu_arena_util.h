// Helpers of the CPU optimizer-arena kernels (cpu_arena.cpp, cpu_perturb.cpp):
// operand checks and the device-side skip flag.
#pragma once
#include "core/cpu/cpu_kernel_util.h"

// A fused multiply-add would skip a rounding the composed ops perform and
// break bit-equality with them (and with the CUDA kernels, which use explicit
// round-to-nearest intrinsics). ISO C++ mode (-std=c++17) already means no
// contraction on GCC, but a GNU-mode or -ffp-contract=fast build would
// contract; these pragmas pin it off for every function of a file that
// includes this header (cpu_arena.cpp, cpu_perturb.cpp) after the include.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace basin::cpu {

// Every arena operand shares w's layout: same element count and dtype, contiguous.
inline void check_arena_operand(const char* op, const Tensor& t, const Tensor& w, const char* operand) {
  if (!t.defined()) return;
  check_contiguous(op, t);
  check_dtype(t, w.dtype(), op, operand);
  check_numel(t, w.numel(), op, operand);
}

// A 0-d operand (squared norm, count, skip flag): one element of w's dtype.
inline void check_arena_scalar(const char* op, const Tensor& t, const Tensor& w, const char* operand) {
  BASIN_CHECK(t.defined(), "cpu backend ", op, ": ", operand, " must be defined");
  check_dtype(t, w.dtype(), op, operand);
  check_numel(t, 1, op, operand);
}

inline void check_skip_flag(const char* op, const Tensor& skip, const Tensor& w) {
  if (skip.defined()) check_arena_scalar(op, skip, w, "skip flag");
}

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

// The kernel reads its 0-d operands itself, as a CUDA kernel reads device
// memory: no Tensor::item(), so no counted device-to-host read.
template <class T>
double scalar_value(const Tensor& t) {
  return static_cast<double>(*static_cast<const T*>(t.raw_data()));
}

// Skipped when the flag holds anything but 0 (a NaN included); undefined = never.
template <class T>
bool skip_flag_set(const Tensor& skip) {
  return skip.defined() && !(scalar_value<T>(skip) == 0.0);
}

// A per-step value a captured step keeps in device memory (lr, s(t)):
// an f64 0-d tensor when defined, else the host value. Read like the scalars
// above, so the result is the same double either way.
inline double step_value(const char* op, const Tensor& value, double host, const char* what) {
  if (!value.defined()) return host;
  check_dtype(value, DType::F64, op, what);
  check_numel(value, 1, op, what);
  return scalar_value<double>(value);
}

}  // namespace basin::cpu
