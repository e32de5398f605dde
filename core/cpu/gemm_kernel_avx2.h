// AVX2 + FMA f32 GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators,
// which with two B vectors and one broadcast fills the 16 ymm registers
// without spilling (the x86-64-v3 target has no AVX-512 register file).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace basin::cpu {

struct Avx2KernelF32 {
  static constexpr int MR = 6, NR = 16;

  // Same contract as generic_micro_kernel (core/cpu/gemm_kernel_generic.h).
  template <class Rows>
  static void run(int64_t kc, const float* __restrict a, Rows b_row, float* __restrict c,
                  int64_t ldc, float beta) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      const float* b = b_row(k);
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
    }
    const __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
#pragma GCC unroll 2
      for (int j = 0; j < 2; ++j) {
        __m256 v = acc[i][j];
        if (beta == 1.0f)
          v = _mm256_add_ps(_mm256_loadu_ps(row + 8 * j), v);
        else if (beta != 0.0f)
          v = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(row + 8 * j), v);
        _mm256_storeu_ps(row + 8 * j, v);
      }
    }
  }
};

}  // namespace basin::cpu
