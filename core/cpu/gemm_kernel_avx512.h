// AVX-512 f32 GEMM micro-kernel: an 8 x 48 tile of C in 24 zmm accumulators.
// Per k it loads three vectors of the B sliver and broadcasts eight values of
// the A sliver straight into the FMAs (11 loads for 24 FMAs, under the two
// load ports' budget). 8 rows divide every channel count of the ResNets
// (16..512), so the conv GEMMs, whose M is a channel count, waste no rows.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace basin::cpu {

struct Avx512KernelF32 {
  static constexpr int MR = 8, NR = 48;

  // Same contract as generic_micro_kernel (core/cpu/gemm_kernel_generic.h).
  template <class Rows>
  static void run(int64_t kc, const float* __restrict a, Rows b_row, float* __restrict c,
                  int64_t ldc, float beta) {
    __m512 acc[MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      const float* b = b_row(k);
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16),
                   b2 = _mm512_loadu_ps(b + 32);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
      }
      a += MR;
    }
    const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        __m512 v = acc[i][j];
        if (beta == 1.0f)
          v = _mm512_add_ps(_mm512_loadu_ps(row + 16 * j), v);
        else if (beta != 0.0f)
          v = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(row + 16 * j), v);
        _mm512_storeu_ps(row + 16 * j, v);
      }
    }
  }
};

// Dot-product kernel for C = A * B^T with both operands read in place, rows
// contiguous along k (core/cpu/gemm_dot.cpp): X rows of one operand against Y
// rows of the other, each pair summed in a zmm of 16 lanes (lane l takes the
// k = l mod 16 terms, in k order). 4 x 6 pairs = 24 accumulators; per 16 k,
// 10 loads feed 24 FMAs. Partial sums live in `partial` between k-chunks and
// are reduced to scalars only once, at the end.
struct Avx512DotF32 {
  static constexpr bool available = true;
  static constexpr int X = 4, Y = 6, V = 16;

  // partial[(i*Y + j)*V ..] += sum over k < kd of x[i][k] * y[j][k]
  // (first: start from zero). kd need not be a multiple of V (masked tail).
  static void run(int64_t kd, const float* const* x, const float* const* y, float* partial,
                  bool first) {
    __m512 acc[X][Y];
#pragma GCC unroll 4
    for (int i = 0; i < X; ++i)
#pragma GCC unroll 6
      for (int j = 0; j < Y; ++j)
        acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(partial + (i * Y + j) * V);
    int64_t k = 0;
    for (; k + V <= kd; k += V) step(x, y, k, acc, 0xFFFF);
    if (k < kd) step(x, y, k, acc, static_cast<__mmask16>((1u << (kd - k)) - 1));
#pragma GCC unroll 4
    for (int i = 0; i < X; ++i)
#pragma GCC unroll 6
      for (int j = 0; j < Y; ++j) _mm512_storeu_ps(partial + (i * Y + j) * V, acc[i][j]);
  }

  // Sum of the V lanes of one pair, as a fixed pairwise tree (once per
  // element of C, so plain code; GCC's _mm512_reduce_add_ps warns spuriously).
  static float reduce(const float* lanes) {
    float s[8];
    for (int i = 0; i < 8; ++i) s[i] = lanes[i] + lanes[i + 8];
    for (int i = 0; i < 4; ++i) s[i] += s[i + 4];
    return (s[0] + s[2]) + (s[1] + s[3]);
  }

 private:
  static inline void step(const float* const* x, const float* const* y, int64_t k,
                          __m512 (&acc)[X][Y], __mmask16 mask) {
    __m512 yv[Y];
#pragma GCC unroll 6
    for (int j = 0; j < Y; ++j) yv[j] = _mm512_maskz_loadu_ps(mask, y[j] + k);
#pragma GCC unroll 4
    for (int i = 0; i < X; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x[i] + k);
#pragma GCC unroll 6
      for (int j = 0; j < Y; ++j) acc[i][j] = _mm512_fmadd_ps(xv, yv[j], acc[i][j]);
    }
  }
};

}  // namespace basin::cpu
