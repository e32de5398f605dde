// Convolutions through cuDNN 9's legacy convolution API. The algorithm for each
// (shape, direction, deterministic, tf32) is chosen once with cudnnFind*Ex on
// the real buffers and cached; workspaces come from the caching allocator.
// Compiled to nothing when the build has no cuDNN.
#if defined(BASIN_HAS_CUDNN)
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>

#include "cuda/allocator.h"
#include "cuda/conv.h"
#include "cuda/cuda_common.h"
#include "cuda/cuda_info.h"

#define CUDNN_CHECK(call)                                                                   \
  do {                                                                                      \
    const cudnnStatus_t basin_cudnn_st_ = (call);                                           \
    if (basin_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                            \
      ::basin::fail(::basin::cat("cuDNN error in ", #call, ": ",                            \
                                 cudnnGetErrorString(basin_cudnn_st_), " at ", __FILE__, \
                                 ":", __LINE__));                                           \
  } while (0)

namespace basin::cuda {
namespace {

constexpr int kMaxDevices = 16;
constexpr size_t kWorkspaceCap = size_t(512) << 20;

std::mutex g_mutex;
cudnnHandle_t g_handles[kMaxDevices] = {};

cudnnHandle_t handle() {
  DeviceContext& ctx = context();
  std::lock_guard<std::mutex> lock(g_mutex);
  cudnnHandle_t& h = g_handles[ctx.device];
  if (h == nullptr) {
    CUDNN_CHECK(cudnnCreate(&h));
    CUDNN_CHECK(cudnnSetStream(h, ctx.stream));
  }
  return h;
}

enum class Direction { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

struct Choice {
  int algo = 0;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

using Key = std::array<int64_t, 18>;
std::map<Key, Choice> g_choices;

Key make_key(int device, Direction dir, const ConvDims& d, const Conv2dParams& p) {
  return {device, static_cast<int64_t>(dir), d.N, d.C_in, d.H, d.W, d.C_out, d.KH, d.KW, p.stride_h,
          p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, deterministic() ? 1 : 0,
          tf32() ? 1 : 0, 0};
}

// RAII descriptors for one call.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const ConvDims& d, const Conv2dParams& p) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.N), int(d.C_in),
                                           int(d.H), int(d.W)));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.N), int(d.C_out),
                                           int(d.OH), int(d.OW)));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(d.C_out),
                                           int(d.C_in), int(d.KH), int(d.KW)));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w,
                                                p.dilation_h, p.dilation_w, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    // Without TF32, only FMA kernels: cuDNN's default math would allow TF32 on sm_80+.
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// The one-off search workspace comes straight from the driver and goes back
// at once, so a large search buffer never lingers in the allocator's cache.
class SearchWorkspace {
 public:
  SearchWorkspace() {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    size_ = std::min(kWorkspaceCap, free_b / 2);
    while (size_ >= (size_t(1) << 20) && cudaMalloc(&ptr_, size_) != cudaSuccess) {
      cudaGetLastError();
      ptr_ = nullptr;
      size_ /= 2;
    }
    if (ptr_ == nullptr) size_ = 0;
  }
  ~SearchWorkspace() { if (ptr_) cudaFree(ptr_); }
  SearchWorkspace(const SearchWorkspace&) = delete;
  SearchWorkspace& operator=(const SearchWorkspace&) = delete;
  void* get() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// The first (fastest) result that succeeded, fits and obeys the switches.
template <class Perf>
Choice pick(const Perf* results, int count, size_t budget, const char* what) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > budget) continue;
    if (deterministic() && r.determinism != CUDNN_DETERMINISTIC) continue;
    const bool tensor_op = r.mathType == CUDNN_TENSOR_OP_MATH ||
                           r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (!tf32() && tensor_op) continue;
    Choice c;
    c.algo = static_cast<int>(r.algo);
    c.workspace = r.memory;
    c.math = tf32() ? r.mathType : CUDNN_FMA_MATH;
    return c;
  }
  fail(cat("cuDNN: no usable ", what, " algorithm (", count, " candidates; deterministic=",
           deterministic(), ", tf32=", tf32(), ", workspace budget ", budget, " bytes)"));
}

const Choice* cached_choice(const Key& key) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_choices.find(key);
  return it == g_choices.end() ? nullptr : &it->second;
}

const Choice& remember(const Key& key, const Choice& c) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_choices[key] = c;
}

void check_int_range(const ConvDims& d) {
  const int64_t biggest = std::max({d.N, d.C_in, d.C_out, d.H, d.W, d.OH, d.OW});
  BASIN_CHECK(biggest <= INT32_MAX, "cuDNN convolution: a dimension exceeds int range");
}

}  // namespace

void cudnn_conv_forward(const ConvDims& d, const Conv2dParams& p, const float* x, const float* w, float* y) {
  check_int_range(d);
  cudnnHandle_t h = handle();
  Descriptors desc(d, p);
  const Key key = make_key(context().device, Direction::Forward, d, p);
  const Choice* choice = cached_choice(key);
  if (choice == nullptr) {
    SearchWorkspace ws;
    const size_t budget = ws.size();
    cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    // Measured search on the real buffers; the heuristic list if the search itself fails.
    if (cudnnFindConvolutionForwardAlgorithmEx(h, desc.x, x, desc.w, w, desc.conv, desc.y, y,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, results, ws.get(),
                                               budget) != CUDNN_STATUS_SUCCESS) {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, desc.x, desc.w, desc.conv, desc.y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, results));
    }
    choice = &remember(key, pick(results, count, budget, "forward convolution"));
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(desc.conv, choice->math));
  DeviceBuffer ws(choice->workspace);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(h, &one, desc.x, x, desc.w, w, desc.conv,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice->algo), ws.get(),
                                      choice->workspace, &zero, desc.y, y));
}

void cudnn_conv_backward_input(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* w,
                               float* gx) {
  check_int_range(d);
  cudnnHandle_t h = handle();
  Descriptors desc(d, p);
  const Key key = make_key(context().device, Direction::BackwardData, d, p);
  const Choice* choice = cached_choice(key);
  if (choice == nullptr) {
    SearchWorkspace ws;
    const size_t budget = ws.size();
    cudnnConvolutionBwdDataAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    if (cudnnFindConvolutionBackwardDataAlgorithmEx(h, desc.w, w, desc.y, gy, desc.conv, desc.x, gx,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, results,
                                                    ws.get(), budget) != CUDNN_STATUS_SUCCESS) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, desc.w, desc.y, desc.conv, desc.x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count,
                                                              results));
    }
    choice = &remember(key, pick(results, count, budget, "backward-data convolution"));
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(desc.conv, choice->math));
  DeviceBuffer ws(choice->workspace);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, desc.w, w, desc.y, gy, desc.conv,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(choice->algo),
                                           ws.get(), choice->workspace, &zero, desc.x, gx));
}

void cudnn_conv_backward_weight(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* x,
                                float* gw) {
  check_int_range(d);
  cudnnHandle_t h = handle();
  Descriptors desc(d, p);
  const Key key = make_key(context().device, Direction::BackwardFilter, d, p);
  const Choice* choice = cached_choice(key);
  if (choice == nullptr) {
    SearchWorkspace ws;
    const size_t budget = ws.size();
    cudnnConvolutionBwdFilterAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    if (cudnnFindConvolutionBackwardFilterAlgorithmEx(h, desc.x, x, desc.y, gy, desc.conv, desc.w, gw,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
                                                      results, ws.get(), budget) != CUDNN_STATUS_SUCCESS) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, desc.x, desc.y, desc.conv, desc.w,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                &count, results));
    }
    choice = &remember(key, pick(results, count, budget, "backward-filter convolution"));
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(desc.conv, choice->math));
  DeviceBuffer ws(choice->workspace);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, desc.x, x, desc.y, gy, desc.conv,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice->algo),
                                             ws.get(), choice->workspace, &zero, desc.w, gw));
}

}  // namespace basin::cuda
#endif  // BASIN_HAS_CUDNN
