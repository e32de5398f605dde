// Internal to cuda/: row-major f32 GEMM on cuBLAS with explicit batch strides
// (0 = the same matrix for every problem), shared by Backend::gemm and the
// im2col convolution path.
#pragma once
#include <cstdint>

namespace basin::cuda {

// For b in [0, batch): C_b = alpha * op(A_b) op(B_b) + beta * C_b, row-major,
// op(A) [M, K], op(B) [K, N]; A_b = A + b * stride_a, etc. beta == 0 ignores C.
void gemm_f32(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t stride_a, const float* B, int64_t stride_b, float beta, float* C,
              int64_t stride_c);

}  // namespace basin::cuda
