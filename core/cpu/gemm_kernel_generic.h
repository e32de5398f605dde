// Portable GEMM micro-kernel: plain C++ over a fixed MR x NR tile that the
// compiler unrolls and vectorises for whatever target it builds for. Used for
// f64 everywhere and for f32 when core/cpu/isa.h selects no x86 kernel.
#pragma once
#include <cstdint>

namespace basin::cpu {

// C[MR x NR] = sum_k Ap[k*MR + i] * b_row(k)[j] + beta * C (beta == 0 does not
// read C). Ap is a packed MR-row sliver; each row of B (core/cpu/gemm_b_rows.h)
// holds NR valid columns.
template <class T, int MR, int NR, class Rows>
void generic_micro_kernel(int64_t kc, const T* __restrict Ap, Rows b_row, T* __restrict C,
                          int64_t ldc, T beta) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  for (int64_t k = 0; k < kc; ++k) {
    const T* a = Ap + k * MR;
    const T* b = b_row(k);
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
  }
  if (beta == T(0)) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) C[i * ldc + j] = acc[i][j];
  } else if (beta == T(1)) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) C[i * ldc + j] += acc[i][j];
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) C[i * ldc + j] = beta * C[i * ldc + j] + acc[i][j];
  }
}

}  // namespace basin::cpu
