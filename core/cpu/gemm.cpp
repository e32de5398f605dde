// CPU GEMM: Goto/BLIS-style blocking (NC x KC panels of B, MC x KC blocks of A,
// both packed into register-tile slivers) around a fixed-size micro-kernel
// chosen for the build's instruction set (core/cpu/gemm_micro_kernel.h).
#include "core/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/cpu/gemm_dot.h"
#include "core/cpu/gemm_micro_kernel.h"
#include "core/cpu/transpose8x8.h"
#include "core/error.h"

namespace basin::cpu {
namespace {

// Register tile (MR x NR, from the ISA's micro-kernel, core/cpu/gemm_micro_kernel.h)
// and cache blocks: a KC x NR sliver of B stays in L1 while the MC x KC block
// of A it meets streams from L2.
template <class T>
struct Blocking {
  static constexpr int MR = MicroKernel<T>::MR, NR = MicroKernel<T>::NR;
  static constexpr int64_t MC = 144, KC = 256, NC = 3072;
};

// Below this many multiply-adds a plain loop beats packing and threading.
constexpr int64_t kSmallWork = 24 * 24 * 24;
// Below this many multiply-adds one thread is faster than waking a team.
constexpr int64_t kParallelWork = 96 * 96 * 96;


int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Scratch that grows and is kept per thread, so steady-state calls allocate nothing.
template <class T>
T* scratch(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

template <class T>
std::vector<T>& a_pack_buffer() {
  static thread_local std::vector<T> buf;
  return buf;
}
template <class T>
std::vector<T>& b_pack_buffer() {
  static thread_local std::vector<T> buf;
  return buf;
}

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of alpha*op(A) as MR-row slivers,
// k-major inside a sliver; rows past mc are zero so the kernel never branches.
template <class T>
void pack_a(bool trans_a, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, T alpha, T* out) {
  constexpr int MR = Blocking<T>::MR;
  for (int64_t s = 0; s < mc; s += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - s);
    T* dst = out + s * kc;
    if constexpr (std::is_same_v<T, float> && MR == 8 && kHasTranspose8x8) {
      if (!trans_a && rows == MR) {  // a transpose of 8 x kc: 8 x 8 blocks, then the tail
        const T* src = A + (i0 + s) * lda + p0;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) transpose8x8(src + k, lda, dst + k * MR, MR, alpha);
        for (; k < kc; ++k)
          for (int r = 0; r < MR; ++r) dst[k * MR + r] = alpha * src[r * lda + k];
        continue;
      }
    }
    if (!trans_a) {
      for (int64_t r = 0; r < rows; ++r) {
        const T* src = A + (i0 + s + r) * lda + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = alpha * src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = A + (p0 + k) * lda + i0 + s;
        for (int64_t r = 0; r < rows; ++r) dst[k * MR + r] = alpha * src[r];
      }
    }
    for (int64_t r = rows; r < MR; ++r)
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = T(0);
  }
}

// Packs one NR-column sliver of a transposed B whose column c (k contiguous)
// starts at column(c): a transposing gather, one read stream per column and
// one contiguous write stream; groups of 8 columns in 8 x 8 register
// transposes where the ISA has them (the weight gradient's B is C_out x cols:
// 16, 32, 64 columns, or the implicit convolution's shifted lines).
template <class T, class Rows>
void pack_bt_sliver(Rows column, int64_t kc, int64_t cols, T* dst) {
  constexpr int NR = Blocking<T>::NR;
  int64_t c8 = 0;
  if constexpr (std::is_same_v<T, float> && kHasTranspose8x8) {
    c8 = cols / 8 * 8;
    const int64_t k8 = kc / 8 * 8;
    for (int64_t c = 0; c < c8; c += 8) {
      const T* src[8];
      for (int i = 0; i < 8; ++i) src[i] = column(c + i);
      for (int64_t k = 0; k < k8; k += 8)
        transpose8x8_rows([&](int i) { return src[i] + k; }, dst + k * NR + c, NR, 1.0f);
    }
    for (int64_t k = k8; k < kc; ++k)
      for (int64_t c = 0; c < c8; ++c) dst[k * NR + c] = column(c)[k];
  }
  for (int64_t c = c8; c < cols; ++c) {
    const T* src = column(c);
    for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t c = cols; c < NR; ++c) dst[k * NR + c] = T(0);
}

// Packs one NR-column sliver (columns [j0, j0+cols)) of op(B) rows [p0, p0+kc).
// With b_rows (trans_b only), column j of op(B) starts at B + b_rows[j].
template <class T>
void pack_b_sliver(bool trans_b, const T* B, int64_t ldb, const int64_t* b_rows, int64_t p0,
                   int64_t kc, int64_t j0, int64_t cols, T* dst) {
  constexpr int NR = Blocking<T>::NR;
  if (b_rows) {
    pack_bt_sliver(OffsetRows<T>{B + p0, b_rows + j0}, kc, cols, dst);
    return;
  }
  if (trans_b) {
    pack_bt_sliver(StridedRows<T>{B + j0 * ldb + p0, ldb}, kc, cols, dst);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const T* src = B + (p0 + k) * ldb + j0;
    T* d = dst + k * NR;
    int64_t c = 0;
    for (; c < cols; ++c) d[c] = src[c];
    for (; c < NR; ++c) d[c] = T(0);
  }
}

// C[mr x nr] = acc + beta * C, where acc = sum_k Ap[:,k] Bp[k,:] over the packed
// slivers. beta == 0 writes without reading C (C may hold NaNs). A partial tile
// is computed whole into a local tile (the packed slivers are zero-padded) and
// only its valid part is merged into C.
template <class T, class Rows>
void micro_kernel(int64_t kc, const T* __restrict Ap, Rows b_row, T* __restrict C, int64_t ldc,
                  int mr, int nr, T beta) {
  using Kernel = MicroKernel<T>;
  constexpr int MR = Kernel::MR, NR = Kernel::NR;
  if (mr == MR && nr == NR) {
    Kernel::run(kc, Ap, b_row, C, ldc, beta);
    return;
  }
  alignas(64) T tile[MR * NR];
  Kernel::run(kc, Ap, b_row, tile, NR, T(0));
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      T& c = C[i * ldc + j];
      c = beta == T(0) ? tile[i * NR + j] : beta * c + tile[i * NR + j];
    }
}

template <class T>
void gemm_small(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T sum = T(0);
      for (int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        sum += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * sum : alpha * sum + beta * c;
    }
}

// C = beta * C (beta == 0: zero-fill), the whole answer when K == 0 or alpha == 0.
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

// The blocked loops of gemm; B comes packed (packed_b_layout order), or is
// packed here from B / ldb, or is addressed through b_rows: a non-transposed
// B is then read in place (row k at B + b_rows[k]), a transposed one packed
// from its columns (column j at B + b_rows[j]).
template <class T>
void blocked_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* B, int64_t ldb, const T* packed_b,
                  const int64_t* b_rows, T beta, T* C, int64_t ldc, int threads) {
  using Bk = Blocking<T>;
  constexpr int MR = Bk::MR, NR = Bk::NR;
  const int64_t nc_max = std::min<int64_t>(Bk::NC, round_up(N, NR));
  const int64_t kc_max = std::min<int64_t>(Bk::KC, K);
  const bool in_place_rows = b_rows && !trans_b;
  const bool pack_here = !packed_b && !in_place_rows;
  T* Bp = pack_here ? scratch(b_pack_buffer<T>(), static_cast<size_t>(nc_max * kc_max)) : nullptr;

  // With few rows of C, packing B costs about as much as using it: full slivers
  // of a row-major B are then read in place (a few rows share each L1-resident sliver).
  const bool direct_b = !packed_b && !trans_b && M <= kGemmDirectBRows;

  // Every element of C sees the same blocks in the same k order whatever the
  // thread count, so the result is bit-identical for any number of threads.
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int team = omp_get_num_threads();
    for (int64_t jc = 0; jc < N; jc += Bk::NC) {
      const int64_t nc = std::min<int64_t>(Bk::NC, N - jc);
      const int64_t slivers = (nc + NR - 1) / NR;
      for (int64_t pc = 0; pc < K; pc += Bk::KC) {
        const int64_t kc = std::min<int64_t>(Bk::KC, K - pc);
        const T beta_here = pc == 0 ? beta : T(1);
        // The block's slivers: given (packed_b_layout's order) or packed here.
        const T* Bblock = packed_b ? packed_b + jc * K + pc * round_up(nc, NR) : Bp;
        if (pack_here) {
#pragma omp for schedule(static)
          for (int64_t s = 0; s < slivers; ++s)
            if (!(direct_b && (s + 1) * NR <= nc))
              pack_b_sliver(trans_b, B, ldb, b_rows, pc, kc, jc + s * NR,
                            std::min<int64_t>(NR, nc - s * NR), Bp + s * NR * kc);
        }
        // Tasks are (block of A rows, range of B slivers); with few row blocks
        // the slivers are split too so both threads have work (A is re-packed
        // per task, cheap next to the multiply).
        const int64_t mblocks = (M + Bk::MC - 1) / Bk::MC;
        int64_t jsplit = 1;
        if (mblocks < 4 * team) jsplit = std::min<int64_t>(slivers, (4 * team + mblocks - 1) / mblocks);
        const int64_t tasks = mblocks * jsplit;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; ++t) {
          const int64_t ib = t / jsplit, js = t % jsplit;
          const int64_t ic = ib * Bk::MC;
          const int64_t mc = std::min<int64_t>(Bk::MC, M - ic);
          const int64_t s_begin = slivers * js / jsplit, s_end = slivers * (js + 1) / jsplit;
          if (s_begin == s_end) continue;
          T* Ap = scratch(a_pack_buffer<T>(), static_cast<size_t>(round_up(Bk::MC, MR) * kc_max));
          pack_a(trans_a, A, lda, ic, mc, pc, kc, alpha, Ap);
          for (int64_t s = s_begin; s < s_end; ++s) {
            const int64_t j = jc + s * NR;
            const int nr = static_cast<int>(std::min<int64_t>(NR, N - j));
            auto multiply_sliver = [&](const auto& b_rows_of_sliver) {
              for (int64_t ir = 0; ir < mc; ir += MR) {
                const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
                micro_kernel<T>(kc, Ap + ir * kc, b_rows_of_sliver, C + (ic + ir) * ldc + j, ldc, mr,
                                nr, beta_here);
              }
            };
            // Only the accessor this path reads is formed: the other's base may be null.
            if (in_place_rows) {
              multiply_sliver(OffsetRows<T>{B + j, b_rows + pc});
            } else if (direct_b && nr == NR) {
              multiply_sliver(StridedRows<T>{B + pc * ldb + j, ldb});
            } else {
              multiply_sliver(StridedRows<T>{Bblock + s * NR * kc, NR});
            }
          }
        }
      }
    }
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  BASIN_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  BASIN_CHECK(ldc >= std::max<int64_t>(1, N), "gemm: ldc=", ldc, " < N=", N);
  BASIN_CHECK(lda >= std::max<int64_t>(1, trans_a ? M : K), "gemm: lda=", lda, " < ",
              trans_a ? "M=" : "K=", trans_a ? M : K, " (trans_a=", trans_a, ")");
  BASIN_CHECK(ldb >= std::max<int64_t>(1, trans_b ? K : N), "gemm: ldb=", ldb, " < ",
              trans_b ? "K=" : "N=", trans_b ? K : N, " (trans_b=", trans_b, ")");
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int64_t work = M * N * K;
  if (work <= kSmallWork) {
    gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  int threads = 1;
  if (work >= kParallelWork && !omp_in_parallel()) threads = omp_get_max_threads();
  if constexpr (DotKernel<T>::available) {
    if (!trans_a && trans_b && dot_route_suits(M, N, K)) {
      gemm_nt_dot<DotKernel<T>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
      return;
    }
  }
  blocked_gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, nullptr, nullptr, beta, C, ldc,
                  threads);
}

template <class T>
PackedBLayout packed_b_layout(int64_t K, int64_t N) {
  return PackedBLayout{K, N, Blocking<T>::NR, Blocking<T>::KC, Blocking<T>::NC};
}

int64_t PackedBLayout::size() const {
  const int64_t full = N / nc, rest = N - full * nc;
  return full * nc * K + (rest + nr - 1) / nr * nr * K;
}

template <class T>
void gemm_packed_b(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* packed_b, T beta, T* C, int64_t ldc) {
  BASIN_CHECK(M >= 0 && N >= 0 && K > 0, "gemm_packed_b: bad size M=", M, " N=", N, " K=", K);
  BASIN_CHECK(ldc >= std::max<int64_t>(1, N) && lda >= K, "gemm_packed_b: ldc=", ldc, " lda=",
              lda, " for N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  const int threads =
      M * N * K >= kParallelWork && !omp_in_parallel() ? omp_get_max_threads() : 1;
  blocked_gemm<T>(false, false, M, N, K, alpha, A, lda, nullptr, 0, packed_b, nullptr, beta, C,
                  ldc, threads);
}

template <class T>
void gemm_offset_rows_b(bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                        const T* B, const int64_t* b_rows, T* C, int64_t ldc) {
  BASIN_CHECK(M >= 0 && N >= 0 && K > 0, "gemm_offset_rows_b: bad size M=", M, " N=", N, " K=", K);
  BASIN_CHECK(ldc >= std::max<int64_t>(1, N) && lda >= K, "gemm_offset_rows_b: ldc=", ldc,
              " lda=", lda, " for N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  const int threads =
      M * N * K >= kParallelWork && !omp_in_parallel() ? omp_get_max_threads() : 1;
  // No dot route here (gemm's choice for thin A * B^T): on the implicit
  // convolution's 16-channel weight gradient the packed route ran at 50 GFLOP/s
  // against the dot kernel's 30 (AMD EPYC, AVX-512, 2026-12-02).
  blocked_gemm<T>(false, trans_b, M, N, K, T(1), A, lda, B, 0, nullptr, b_rows, T(0), C, ldc,
                  threads);
}

template <class T>
int64_t gemm_b_tile_columns() {
  return Blocking<T>::NR;
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template PackedBLayout packed_b_layout<float>(int64_t, int64_t);
template PackedBLayout packed_b_layout<double>(int64_t, int64_t);
template void gemm_packed_b<float>(int64_t, int64_t, int64_t, float, const float*, int64_t,
                                   const float*, float, float*, int64_t);
template void gemm_packed_b<double>(int64_t, int64_t, int64_t, double, const double*, int64_t,
                                    const double*, double, double*, int64_t);
template int64_t gemm_b_tile_columns<float>();
template int64_t gemm_b_tile_columns<double>();
template void gemm_offset_rows_b<float>(bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                        const float*, const int64_t*, float*, int64_t);
template void gemm_offset_rows_b<double>(bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                         const double*, const int64_t*, double*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace basin::cpu
