// The block-wide tree reduction behind the reduction, softmax and batch-norm
// kernels: every thread of a kBlockThreads-thread block contributes one value
// and every thread receives the result. The combine order is fixed, so the
// bits never depend on scheduling (no atomics anywhere).
#pragma once

namespace basin::cuda {

constexpr int kBlockThreads = 256;  // every kernel that calls block_reduce launches this many

struct SumOp {
  template <class A> __device__ A operator()(A x, A y) const { return x + y; }
};

template <class Acc, class Combine>
__device__ Acc block_reduce(Acc v, Combine combine) {
  __shared__ Acc shared[kBlockThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const Acc result = shared[0];
  __syncthreads();  // shared[] is reused by the caller's next reduction
  return result;
}

}  // namespace basin::cuda
