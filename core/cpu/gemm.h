// CPU matrix multiply: blocked for the cache, packed panels and a register-tiled
// micro-kernel written so the compiler vectorises it, parallel over OpenMP.
// Row-major; the building block of linear, matmul and im2col convolution.
#pragma once
#include <cstdint>

namespace basin::cpu {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. A is stored [M,K] with
// leading dim lda (or [K,M] when trans_a), B [K,N] with ldb (or [N,K] when
// trans_b). beta == 0 ignores C's previous contents (NaNs included).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace basin::cpu
