// An 8 x 8 f32 block transpose in AVX registers, for the GEMM's packing
// (core/cpu/gemm.cpp): packing a row-major A into MR = 8 row slivers, or a
// transposed B into NR-wide slivers, is a transpose, which element-by-element
// costs one strided store per value. Here 8 row loads, 24 shuffles and 8 row
// stores move 64 values. Only where the ISA has AVX (core/cpu/isa.h).
#pragma once
#include "core/cpu/isa.h"

#if defined(BASIN_CPU_AVX512) || defined(BASIN_CPU_AVX2)
#include <immintrin.h>

#include <cstdint>

namespace basin::cpu {

constexpr bool kHasTranspose8x8 = true;

// dst[j * ld_dst + i] = alpha * src_row(i)[j] for i, j in [0, 8).
template <class Rows>
inline void transpose8x8_rows(Rows src_row, float* dst, int64_t ld_dst, float alpha) {
  const __m256 a = _mm256_set1_ps(alpha);
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_mul_ps(a, _mm256_loadu_ps(src_row(i)));
  // t: pairs of rows interleaved; u: four rows' elements j and j+4 side by side.
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int h = 0; h < 8; h += 4) {
    u[h + 0] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));  // j = 0, 4
    u[h + 1] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));  // j = 1, 5
    u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));  // j = 2, 6
    u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));  // j = 3, 7
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ld_dst, _mm256_permute2f128_ps(u[j], u[j + 4], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ld_dst, _mm256_permute2f128_ps(u[j], u[j + 4], 0x31));
  }
}

// dst[j * ld_dst + i] = alpha * src[i * ld_src + j] for i, j in [0, 8).
inline void transpose8x8(const float* src, int64_t ld_src, float* dst, int64_t ld_dst,
                         float alpha) {
  transpose8x8_rows([=](int i) { return src + i * ld_src; }, dst, ld_dst, alpha);
}

}  // namespace basin::cpu

#else

#include <cstdint>

namespace basin::cpu {

constexpr bool kHasTranspose8x8 = false;

// Never called without AVX (guarded by kHasTranspose8x8); keep the call sites compiling.
template <class Rows>
inline void transpose8x8_rows(Rows, float*, int64_t, float) {}
inline void transpose8x8(const float*, int64_t, float*, int64_t, float) {}

}  // namespace basin::cpu

#endif
