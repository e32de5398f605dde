// C = alpha * A * B^T + beta * C with A [M,K] and B [N,K] read in place, rows
// contiguous along k: the convolution weight gradient's GEMM, where one side is
// a channel count (16 or fewer) and packing the long operand would cost as much as
// the multiply. Each element is a dot product in vector lanes (the ISA's
// DotKernel, core/cpu/gemm_micro_kernel.h), reduced once at the end; the order
// of the sums is fixed, so results do not depend on the thread count.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace basin::cpu {

// Whether gemm_nt_dot is the faster route for this A * B^T. Since the packed
// route transposes B in 8 x 8 register blocks and the weight gradient puts
// C_out on the tile's 8 rows (core/cpu/conv.cpp), packing wins from 32 rows up
// (AMD EPYC, AVX-512, 2026-12-02: 38-54 against 22-26 GFLOP/s on ResNet
// weight gradients); at 16 the two tie.
inline bool dot_route_suits(int64_t M, int64_t N, int64_t K) {
  return std::min(M, N) <= 16 && K >= 256;
}

template <class Dot, class T>
void gemm_nt_dot(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  constexpr int X = Dot::X, Y = Dot::Y, V = Dot::V;
  // Chunk of k whose rows stay in L1 while every small-side tile passes.
  constexpr int64_t KD = 256;
  // The operand with more rows is walked X rows at a time (outer loop, each
  // tile owned by one thread); the smaller one Y rows at a time inside.
  const bool a_big = M >= N;
  const T* big = a_big ? A : B;
  const T* small = a_big ? B : A;
  const int64_t ld_big = a_big ? lda : ldb, ld_small = a_big ? ldb : lda;
  const int64_t n_big = a_big ? M : N, n_small = a_big ? N : M;
  const int64_t big_tiles = (n_big + X - 1) / X, small_tiles = (n_small + Y - 1) / Y;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t bt = 0; bt < big_tiles; ++bt) {
    static thread_local std::vector<T> partial_buffer;
    const size_t need = static_cast<size_t>(small_tiles * X * Y * V);
    if (partial_buffer.size() < need) partial_buffer.resize(need);
    T* partial = partial_buffer.data();
    // Rows past the end repeat the last row; their sums are discarded.
    const T* x[X];
    const T* y[Y];
    for (int64_t k0 = 0; k0 < K; k0 += KD) {
      const int64_t kd = std::min(KD, K - k0);
      for (int i = 0; i < X; ++i) x[i] = big + std::min(bt * X + i, n_big - 1) * ld_big + k0;
      for (int64_t st = 0; st < small_tiles; ++st) {
        for (int j = 0; j < Y; ++j)
          y[j] = small + std::min(st * Y + j, n_small - 1) * ld_small + k0;
        Dot::run(kd, x, y, partial + st * X * Y * V, k0 == 0);
      }
    }
    for (int64_t st = 0; st < small_tiles; ++st)
      for (int i = 0; i < X && bt * X + i < n_big; ++i)
        for (int j = 0; j < Y && st * Y + j < n_small; ++j) {
          const T v = alpha * Dot::reduce(partial + (st * X * Y + i * Y + j) * V);
          const int64_t bi = bt * X + i, sj = st * Y + j;
          T& c = a_big ? C[bi * ldc + sj] : C[sj * ldc + bi];
          c = beta == T(0) ? v : v + beta * c;
        }
  }
}

}  // namespace basin::cpu
