// Elementwise kernels: unary math (f32), binary ops with stride-0 broadcasting
// (f32, and i32/i64 so labels and predictions can be compared on the device)
// and tensor-op-scalar. The op is a runtime switch inside one kernel per dtype,
// which keeps the number of instantiations (and compile time) small.
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

__device__ __forceinline__ float apply_unary(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Sign: return static_cast<float>((x > 0.0f) - (x < 0.0f));
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1.0f / x;
  }
  return x;
}

__global__ void unary_kernel(UnaryOp op, const float* a, float* out, int64_t n) {
  BASIN_GRID_STRIDE(i, n) { out[i] = apply_unary(op, a[i]); }
}

// Same conventions as the CPU reference: max/min let a NaN in x propagate.
template <class T>
__device__ __forceinline__ T apply_binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Max: return (x > y || x != x) ? x : y;
    case BinaryOp::Min: return (x < y || x != x) ? x : y;
    case BinaryOp::ReluGrad: return y > T(0) ? x : T(0);
    case BinaryOp::Ge: return x >= y ? T(1) : T(0);
    case BinaryOp::Gt: return x > y ? T(1) : T(0);
    case BinaryOp::Lt: return x < y ? T(1) : T(0);
    case BinaryOp::Eq: return x == y ? T(1) : T(0);
  }
  return x;
}

template <class T>
__global__ void binary_contiguous_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  BASIN_GRID_STRIDE(i, n) { out[i] = apply_binary<T>(op, a[i], b[i]); }
}

template <class T>
__global__ void binary_strided_kernel(BinaryOp op, const T* a, StridedView av, const T* b,
                                      StridedView bv, T* out, int64_t n) {
  BASIN_GRID_STRIDE(i, n) {
    out[i] = apply_binary<T>(op, a[strided_offset(av, i)], b[strided_offset(bv, i)]);
  }
}

template <class T>
__global__ void binary_scalar_kernel(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  BASIN_GRID_STRIDE(i, n) { out[i] = apply_binary<T>(op, a[i], s); }
}

template <class T>
void launch_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (a.is_contiguous() && b.is_contiguous()) {
    binary_contiguous_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(
        op, data_ptr<T>(a), data_ptr<T>(b), data_ptr<T>(out), n);
  } else {
    binary_strided_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(
        op, data_ptr<T>(a), strided_view(a, "binary"), data_ptr<T>(b), strided_view(b, "binary"),
        data_ptr<T>(out), n);
  }
  check_launch("binary_kernel");
}

template <class T>
void launch_binary_scalar(BinaryOp op, const Tensor& a, double s, Tensor& out) {
  const int64_t n = out.numel();
  binary_scalar_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(op, data_ptr<T>(a),
                                                                   static_cast<T>(s),
                                                                   data_ptr<T>(out), n);
  check_launch("binary_scalar_kernel");
}

void require_binary_dtype(const Tensor& t, BinaryOp op, const char* name) {
  if (t.dtype() == DType::I32 || t.dtype() == DType::I64) {
    BASIN_CHECK(op != BinaryOp::Div, "cuda ", name, " div: integer dtype ", dtype_name(t.dtype()),
                " is not supported (as on the CPU); cast to f32 first");
    return;
  }
  require_f32(t, name);  // throws with the standard message for f64 and u8
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& a, Tensor& out) {
  require_f32(a, "unary");
  require_f32(out, "unary");
  const int64_t n = out.numel();
  if (n == 0) return;
  unary_kernel<<<grid_for(n), kThreads, 0, stream()>>>(op, data_ptr<float>(a), data_ptr<float>(out), n);
  check_launch("unary_kernel");
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  require_binary_dtype(out, op, "binary");
  BASIN_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(), "cuda binary: dtypes differ: ",
              a.str(), ", ", b.str(), " -> ", out.str());
  if (out.numel() == 0) return;
  switch (out.dtype()) {
    case DType::F32: launch_binary<float>(op, a, b, out); break;
    case DType::I32: launch_binary<int32_t>(op, a, b, out); break;
    case DType::I64: launch_binary<int64_t>(op, a, b, out); break;
    default: break;
  }
}

void CudaBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, Tensor& out) {
  require_binary_dtype(out, op, "binary_scalar");
  BASIN_CHECK(a.dtype() == out.dtype(), "cuda binary_scalar: dtypes differ: ", a.str(), " -> ", out.str());
  if (out.numel() == 0) return;
  switch (out.dtype()) {
    case DType::F32: launch_binary_scalar<float>(op, a, s, out); break;
    case DType::I32: launch_binary_scalar<int32_t>(op, a, s, out); break;
    case DType::I64: launch_binary_scalar<int64_t>(op, a, s, out); break;
    default: break;
  }
}

}  // namespace basin::cuda
