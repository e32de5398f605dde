// GEMM through cuBLAS. cuBLAS is column-major; a row-major C = op(A) op(B) is
// the column-major C^T = op(B)^T op(A)^T, so the operands are passed swapped
// and no data is transposed. TF32 is off unless cuda_info.h's set_tf32 is on.
#include "cuda/gemm.h"

#include <climits>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {

void gemm_f32(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t stride_a, const float* B, int64_t stride_b, float beta, float* C,
              int64_t stride_c) {
  if (batch == 0 || M == 0 || N == 0) return;
  BASIN_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && batch <= INT_MAX,
              "cuda gemm: dimensions M=", M, " N=", N, " K=", K, " batch=", batch,
              " exceed cuBLAS's int range");
  DeviceContext& ctx = context();
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = static_cast<int>(trans_b ? K : N);
  const int lda = static_cast<int>(trans_a ? M : K);
  const int ldc = static_cast<int>(N);
  if (K == 0) {
    // An empty sum leaves beta * C (cuBLAS rejects k = 0 on some versions).
    BASIN_CHECK(batch == 1 || stride_c == M * N, "cuda gemm: K = 0 needs densely packed C");
    const int64_t total = batch * M * N;
    if (beta == 0.0f) {
      CUDA_CHECK(cudaMemsetAsync(C, 0, sizeof(float) * total, ctx.stream));
    } else if (beta != 1.0f) {
      BASIN_CHECK(total <= INT_MAX, "cuda gemm: C too large to scale");
      CUBLAS_CHECK(cublasSscal(ctx.cublas, static_cast<int>(total), &beta, C, 1));
    }
    return;
  }
  if (batch == 1) {
    CUBLAS_CHECK(cublasSgemm(ctx.cublas, op_b, op_a, m, n, k, &alpha, B, ldb, A, lda, &beta, C, ldc));
  } else {
    CUBLAS_CHECK(cublasSgemmStridedBatched(ctx.cublas, op_b, op_a, m, n, k, &alpha, B, ldb, stride_b, A,
                                           lda, stride_a, &beta, C, ldc, stride_c,
                                           static_cast<int>(batch)));
  }
}

void CudaBackend::gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                       double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C,
                       bool b_broadcast) {
  require_f32(A, "gemm");
  require_f32(B, "gemm");
  require_f32(C, "gemm");
  gemm_f32(trans_a, trans_b, batch, M, N, K, static_cast<float>(alpha), data_ptr<float>(A), M * K,
           data_ptr<float>(B), b_broadcast ? 0 : K * N, static_cast<float>(beta), data_ptr<float>(C),
           M * N);
}

}  // namespace basin::cuda
