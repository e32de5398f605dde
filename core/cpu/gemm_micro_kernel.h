// The GEMM micro-kernel for each element type, chosen by core/cpu/isa.h:
// MicroKernel<T>::MR x NR is the register tile, MicroKernel<T>::run computes
// one full tile (core/cpu/gemm.cpp handles edges through a local tile).
// DotKernel<T> is the in-place A * B^T kernel of core/cpu/gemm_dot.h where the
// ISA has one (DotKernel<T>::available).
#pragma once
#include "core/cpu/gemm_b_rows.h"
#include "core/cpu/gemm_kernel_generic.h"
#include "core/cpu/isa.h"
#if defined(BASIN_CPU_AVX512)
#include "core/cpu/gemm_kernel_avx512.h"
#elif defined(BASIN_CPU_AVX2)
#include "core/cpu/gemm_kernel_avx2.h"
#endif

namespace basin::cpu {

template <class T, int MR_, int NR_>
struct GenericKernel {
  static constexpr int MR = MR_, NR = NR_;
  template <class Rows>
  static void run(int64_t kc, const T* a, Rows b_row, T* c, int64_t ldc, T beta) {
    generic_micro_kernel<T, MR, NR>(kc, a, b_row, c, ldc, beta);
  }
};

template <class T>
struct MicroKernel;
#if defined(BASIN_CPU_AVX512)
template <>
struct MicroKernel<float> : Avx512KernelF32 {};
#elif defined(BASIN_CPU_AVX2)
template <>
struct MicroKernel<float> : Avx2KernelF32 {};
#else
template <>
struct MicroKernel<float> : GenericKernel<float, 6, 16> {};
#endif
// f64 serves the gradient checks, not training: the portable kernel is enough.
template <>
struct MicroKernel<double> : GenericKernel<double, 6, 16> {};

template <class T>
struct DotKernel {
  static constexpr bool available = false;
};
#if defined(BASIN_CPU_AVX512)
template <>
struct DotKernel<float> : Avx512DotF32 {};
#endif

}  // namespace basin::cpu
