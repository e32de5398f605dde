// CPU matrix multiply: blocked for the cache, packed panels and a register-tiled
// micro-kernel written so the compiler vectorises it, parallel over OpenMP.
// Row-major; the building block of linear, matmul and im2col convolution.
#pragma once
#include <algorithm>
#include <cstdint>

namespace basin::cpu {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. A is stored [M,K] with
// leading dim lda (or [K,M] when trans_a), B [K,N] with ldb (or [N,K] when
// trans_b). beta == 0 ignores C's previous contents (NaNs included).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// gemm reads a non-transposed B in place (no packing) when C has at most
// this many rows.
constexpr int64_t kGemmDirectBRows = 48;

// Where gemm's packing puts B[k, n] of a K x N B: column blocks of nc, in each
// row blocks of kc, in each slivers of nr columns stored k-major (columns of
// the last sliver past N are padding). A caller that produces B anyway (the
// convolution's im2col) writes it there directly and skips the packing pass.
struct PackedBLayout {
  int64_t K, N, nr, kc, nc;
  int64_t size() const;  // elements, padding included
  // Offset of B[k, n]; B[k, n + 1 .. the end of n's sliver) follow it.
  int64_t offset(int64_t k, int64_t n) const {
    const int64_t jc = n / nc * nc, pc = k / kc * kc;
    const int64_t nc_here = std::min(nc, N - jc), kc_here = std::min(kc, K - pc);
    const int64_t slivers_width = (nc_here + nr - 1) / nr * nr;
    const int64_t s = (n - jc) / nr, j = (n - jc) % nr;
    return jc * K + pc * slivers_width + s * nr * kc_here + (k - pc) * nr + j;
  }
  // One past the last column of n's sliver (or N).
  int64_t sliver_end(int64_t n) const { return std::min(N, (n / nr + 1) * nr); }
};

template <class T>
PackedBLayout packed_b_layout(int64_t K, int64_t N);

// gemm(false, false, ...) with B given in packed_b_layout<T>(K, N) order.
template <class T>
void gemm_packed_b(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* packed_b, T beta, T* C, int64_t ldc);

// C[M,N] = A[M,K] * op(B) where B is given by where its rows start (they may
// overlap: the implicit convolution's shifted views of one line). Without
// trans_b, row k of B (N long) starts at B + b_rows[k] and is read in place a
// whole column tile at a time: every row must be readable up to column
// round_up(N, gemm_b_tile_columns<T>()). With trans_b, op(B) = B^T and row j of
// B (K long, column j of op(B)) starts at B + b_rows[j].
template <class T>
void gemm_offset_rows_b(bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                        const T* B, const int64_t* b_rows, T* C, int64_t ldc);

template <class T>
int64_t gemm_b_tile_columns();

}  // namespace basin::cpu
