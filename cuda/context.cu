// Per-device state (stream, cuBLAS handle, kernel error word), the checked-call
// failure paths, device discovery and the "no kernel image" diagnosis. A .cu
// file so that nvcc's __CUDA_ARCH_LIST__ tells us what this build carries.
#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>

#include "cuda/cuda_common.h"
#include "cuda/cuda_info.h"

// Variadic: __CUDA_ARCH_LIST__ holds commas when several architectures are built.
#define BASIN_STR2(...) #__VA_ARGS__
#define BASIN_STR(...) BASIN_STR2(__VA_ARGS__)

namespace basin::cuda {
namespace {

constexpr int kMaxDevices = 16;
std::mutex g_context_mutex;
std::unique_ptr<DeviceContext> g_contexts[kMaxDevices];
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_tf32{false};

struct DeviceCount {
  int count = 0;
  std::string reason;
};

const DeviceCount& probe_devices() {
  static const DeviceCount result = [] {
    DeviceCount r;
    const cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      r.count = 0;
      r.reason = cat("cudaGetDeviceCount returned ", cudaGetErrorName(err), " (",
                     cudaGetErrorString(err), ")");
      cudaGetLastError();  // do not leave the error sticky for later calls
    } else if (r.count == 0) {
      r.reason = "cudaGetDeviceCount returned 0 devices";
    }
    return r;
  }();
  return result;
}

__global__ void probe_kernel(int* sink) {
  if (sink != nullptr) *sink = 1;
}

std::string sm_name(int major, int minor) { return cat("sm_", major, minor); }

}  // namespace

[[noreturn]] void fail_cuda(const char* call, cudaError_t err, const char* file, int line) {
  fail(cat("CUDA error in ", call, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
           ") at ", file, ":", line));
}

[[noreturn]] void fail_cublas(const char* call, cublasStatus_t st, const char* file, int line) {
  fail(cat("cuBLAS error in ", call, ": ", cublasGetStatusName(st), " (", cublasGetStatusString(st),
           ") at ", file, ":", line));
}

std::string built_architectures() {
#if defined(__CUDA_ARCH_LIST__)
  std::string list = BASIN_STR(__CUDA_ARCH_LIST__);  // e.g. "750,800,870"
  std::ostringstream out;
  std::stringstream in(list);
  std::string item;
  bool first = true;
  while (std::getline(in, item, ',')) {
    const int arch = std::atoi(item.c_str());
    out << (first ? "" : ", ") << "sm_" << arch / 10;
    first = false;
  }
#if defined(BASIN_CUDA_ARCHS_CONFIGURED)
  out << " (configured: " << BASIN_CUDA_ARCHS_CONFIGURED << ")";
#endif
  return out.str();
#else
  return "unknown";
#endif
}

int device_count() { return probe_devices().count; }
std::string no_device_reason() { return probe_devices().reason; }

static void require_device_index(int index) {
  const DeviceCount& d = probe_devices();
  if (d.count == 0) fail(cat("no CUDA device: ", d.reason));
  BASIN_CHECK(index >= 0 && index < d.count, "CUDA device index ", index, " out of range (",
              d.count, " device(s))");
}

std::string device_name(int index) {
  require_device_index(index);
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

ComputeCapability compute_capability(int index) {
  require_device_index(index);
  ComputeCapability cc;
  CUDA_CHECK(cudaDeviceGetAttribute(&cc.major, cudaDevAttrComputeCapabilityMajor, index));
  CUDA_CHECK(cudaDeviceGetAttribute(&cc.minor, cudaDevAttrComputeCapabilityMinor, index));
  return cc;
}

void set_deterministic(bool on) { g_deterministic = on; }
bool deterministic() { return g_deterministic; }

void set_tf32(bool on) {
  g_tf32 = on;
  std::lock_guard<std::mutex> lock(g_context_mutex);
  for (auto& ctx : g_contexts)
    if (ctx) apply_math_mode(*ctx);
}
bool tf32() { return g_tf32; }

void apply_math_mode(DeviceContext& ctx) {
  int current = 0;
  CUDA_CHECK(cudaGetDevice(&current));
  CUDA_CHECK(cudaSetDevice(ctx.device));
  CUBLAS_CHECK(cublasSetMathMode(ctx.cublas, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                    : CUBLAS_DEFAULT_MATH));
  CUDA_CHECK(cudaSetDevice(current));
}

DeviceContext& context() {
  const DeviceCount& d = probe_devices();
  if (d.count == 0) fail(cat("no CUDA device: ", d.reason));
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  // Fast path for the launch-per-op hot loop: no lock once this thread has seen the context.
  thread_local DeviceContext* last = nullptr;
  if (last != nullptr && last->device == device) return *last;
  BASIN_CHECK(device >= 0 && device < kMaxDevices, "CUDA device ", device, " beyond basin's limit of ",
              kMaxDevices);
  std::lock_guard<std::mutex> lock(g_context_mutex);
  if (g_contexts[device]) {
    last = g_contexts[device].get();
    return *last;
  }

  auto ctx = std::make_unique<DeviceContext>();
  ctx->device = device;
  CUDA_CHECK(cudaDeviceGetAttribute(&ctx->sm_major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&ctx->sm_minor, cudaDevAttrComputeCapabilityMinor, device));
  // A build without this device's architecture fails here, once, with a clear message.
  probe_kernel<<<1, 1>>>(nullptr);
  const cudaError_t launch = cudaGetLastError();
  if (launch == cudaErrorNoKernelImageForDevice || launch == cudaErrorInvalidDeviceFunction)
    fail(cat("no kernel image for CUDA device ", device, " (", sm_name(ctx->sm_major, ctx->sm_minor),
             "): this build carries ", built_architectures(),
             "; reconfigure with -DBASIN_CUDA_ARCHS=", ctx->sm_major, ctx->sm_minor));
  if (launch != cudaSuccess) fail_cuda("probe_kernel<<<1, 1>>>", launch, __FILE__, __LINE__);
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&ctx->cublas));
  CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
  CUBLAS_CHECK(cublasSetPointerMode(ctx->cublas, CUBLAS_POINTER_MODE_HOST));
  CUDA_CHECK(cudaMalloc(&ctx->error_word, sizeof(KernelErrorWord)));
  CUDA_CHECK(cudaMemset(ctx->error_word, 0, sizeof(KernelErrorWord)));
  // The memset ran on the legacy stream, which a non-blocking stream does not wait for.
  CUDA_CHECK(cudaDeviceSynchronize());
  g_contexts[device] = std::move(ctx);
  DeviceContext& ref = *g_contexts[device];
  CUBLAS_CHECK(cublasSetMathMode(ref.cublas, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                    : CUBLAS_DEFAULT_MATH));
  last = &ref;
  return ref;
}

void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return;
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
    const DeviceContext& ctx = context();
    fail(cat("CUDA kernel ", kernel, ": no kernel image for device ", ctx.device, " (",
             sm_name(ctx.sm_major, ctx.sm_minor), "); this build carries ", built_architectures()));
  }
  fail_cuda(kernel, err, __FILE__, __LINE__);
}

void check_kernel_errors() {
  DeviceContext& ctx = context();
  KernelErrorWord word{};
  CUDA_CHECK(cudaMemcpyAsync(&word, ctx.error_word, sizeof(word), cudaMemcpyDeviceToHost, ctx.stream));
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  if (word.code == kNoKernelError) return;
  CUDA_CHECK(cudaMemsetAsync(ctx.error_word, 0, sizeof(KernelErrorWord), ctx.stream));
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  switch (word.code) {
    case kIndexSelectOutOfRange:
      fail(cat("cuda index_select: index ", word.value, " out of range [0, ", word.bound, ")"));
    case kIndexAddOutOfRange:
      fail(cat("cuda index_add: index ", word.value, " out of range [0, ", word.bound, ")"));
    case kLabelOutOfRange:
      fail(cat("cuda cross_entropy: label ", word.value, " out of range [0, ", word.bound, ")"));
    default:
      fail(cat("cuda: kernel reported unknown error code ", word.code));
  }
}

void check_tensor_device(const Tensor& t) {
  const Device dev = t.device();
  if (!dev.is_cuda()) fail(cat("cuda backend: operand ", t.str(), " is not on a CUDA device"));
  if (dev.index == context().device) return;
  fail(cat("cuda backend: operand ", t.str(), " is on ", dev.str(), " but the current CUDA device is ",
           context().device, "; basin runs one device per process (use cuda:0)"));
}

void require_f32(const Tensor& t, const char* op) {
  if (t.dtype() == DType::F32) return;
  fail(cat("cuda: ", dtype_name(t.dtype()), " not supported for ", op, " (operand ", t.str(),
           "; the CUDA backend computes in f32)"));
}

StridedView strided_view(const Tensor& t, const char* op) {
  StridedView v;
  BASIN_CHECK(t.dim() <= kMaxDims, "cuda ", op, ": ", t.str(), " has ", t.dim(),
              " dims; strided kernels take at most ", kMaxDims);
  v.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < v.ndim; ++d) {
    v.sizes[d] = t.shape()[d];
    v.strides[d] = t.strides()[d];
  }
  return v;
}

}  // namespace basin::cuda
