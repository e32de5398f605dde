// Internal to cuda/: the checked-call macros, the per-device context (stream,
// cuBLAS handle, kernel error word) and small launch helpers shared by every
// kernel file. Includes CUDA headers, so nothing outside cuda/ may include it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace basin::cuda {

[[noreturn]] void fail_cuda(const char* call, cudaError_t err, const char* file, int line);
[[noreturn]] void fail_cublas(const char* call, cublasStatus_t st, const char* file, int line);

}  // namespace basin::cuda

#define CUDA_CHECK(call)                                                           \
  do {                                                                             \
    const cudaError_t basin_err_ = (call);                                         \
    if (basin_err_ != cudaSuccess)                                                 \
      ::basin::cuda::fail_cuda(#call, basin_err_, __FILE__, __LINE__);             \
  } while (0)

#define CUBLAS_CHECK(call)                                                         \
  do {                                                                             \
    const cublasStatus_t basin_st_ = (call);                                       \
    if (basin_st_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::basin::cuda::fail_cublas(#call, basin_st_, __FILE__, __LINE__);            \
  } while (0)

namespace basin::cuda {

// Kernels cannot throw; those that meet bad data (an index out of range, a
// label outside [0, C)) record the first failure here and the host turns it
// into a basin::Error at the next synchronising call.
enum KernelErrorCode : int64_t {
  kNoKernelError = 0,
  kIndexSelectOutOfRange = 1,
  kIndexAddOutOfRange = 2,
  kLabelOutOfRange = 3,
};
struct KernelErrorWord {
  unsigned long long code;  // KernelErrorCode; first writer wins
  long long value;          // the offending index or label
  long long bound;          // the valid range is [0, bound)
};

struct DeviceContext {
  int device = 0;
  int sm_major = 0, sm_minor = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  KernelErrorWord* error_word = nullptr;  // device memory
  void* cublas_workspace = nullptr;       // set by the first graph capture (cuda/graph.cpp), kept
};

// The context of the current device, created on first use. Throws a clear
// Error when there is no device or this build has no kernel image for it.
DeviceContext& context();
inline cudaStream_t stream() { return context().stream; }

// After every launch: turns launch failures into Errors; "no kernel image"
// names the device's sm_XY and the architectures built.
void check_launch(const char* kernel);
// Reads (and clears) the kernel error word; throws when a kernel recorded one.
// Synchronises the stream.
void check_kernel_errors();

// Applies the TF32 switch to a cuBLAS handle (called whenever it changes).
void apply_math_mode(DeviceContext& ctx);

// f32 only unless a kernel says otherwise.
void require_f32(const Tensor& t, const char* op);

// Kernels run on the current device; a tensor on another CUDA device would be
// read through the wrong address space, so that is an Error, never a guess.
void check_tensor_device(const Tensor& t);

template <class T>
inline T* data_ptr(const Tensor& t) {
  check_tensor_device(t);
  return static_cast<T*>(t.raw_data());
}

constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535 * 16) blocks = 65535 * 16;  // kernels use grid-stride loops
  return static_cast<unsigned>(blocks);
}

// Shape and strides of a (possibly strided) tensor, passed by value to kernels
// that walk it in row-major logical order.
constexpr int kMaxDims = 8;
struct StridedView {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};
StridedView strided_view(const Tensor& t, const char* op);

}  // namespace basin::cuda

#if defined(__CUDACC__)
namespace basin::cuda {
// Element offset (in elements, relative to the view's first element) of the
// i-th element in row-major logical order.
__device__ __forceinline__ int64_t strided_offset(const StridedView& v, int64_t i) {
  int64_t off = 0;
  for (int d = v.ndim - 1; d >= 0; --d) {
    const int64_t size = v.sizes[d];
    off += (i % size) * v.strides[d];
    i /= size;
  }
  return off;
}
}  // namespace basin::cuda
#define BASIN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
#endif
