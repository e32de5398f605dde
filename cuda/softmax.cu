// Softmax / log-softmax over the rows of [rows, cols], their backward passes,
// and per-sample cross-entropy with label smoothing (forward and backward).
// One block per row; row sums accumulate in double in a fixed tree order.
#include "cuda/cuda_backend.h"
#include "cuda/block_reduce.cuh"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

constexpr int kRowThreads = kBlockThreads;

// Row maximum with fmaxf (which ignores a NaN operand).
struct FmaxOp {
  __device__ float operator()(float x, float y) const { return fmaxf(x, y); }
};

__device__ double block_sum(double v) { return block_reduce<double>(v, SumOp{}); }
__device__ float block_max(float v) { return block_reduce<float>(v, FmaxOp{}); }

// max and log(sum(exp(x - max))) of one row, valid in every thread.
__device__ void row_logsumexp(const float* x, int64_t cols, float* max_out, double* log_sum_out) {
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, x[c]);
  m = block_max(m);
  double s = 0.0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += exp(static_cast<double>(x[c] - m));
  s = block_sum(s);
  *max_out = m;
  *log_sum_out = log(s);
}

__global__ void softmax_kernel(const float* x, int64_t rows, int64_t cols, float* y, bool log_out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m;
    double log_sum;
    row_logsumexp(xr, cols, &m, &log_sum);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double shifted = static_cast<double>(xr[c] - m) - log_sum;
      yr[c] = static_cast<float>(log_out ? shifted : exp(shifted));
    }
  }
}

__global__ void softmax_backward_kernel(const float* gy, const float* y, int64_t rows, int64_t cols,
                                        bool log_out, float* gx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* gyr = gy + r * cols;
    const float* yr = y + r * cols;
    float* gxr = gx + r * cols;
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      s += log_out ? static_cast<double>(gyr[c]) : static_cast<double>(gyr[c]) * yr[c];
    s = block_sum(s);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = log_out ? gyr[c] - exp(static_cast<double>(yr[c])) * s
                               : yr[c] * (gyr[c] - s);
      gxr[c] = static_cast<float>(g);
    }
  }
}

__device__ bool check_label(int64_t label, int64_t cols, KernelErrorWord* err) {
  if (label >= 0 && label < cols) return true;
  if (threadIdx.x == 0 && atomicCAS(&err->code, 0ull, (unsigned long long)kLabelOutOfRange) == 0ull) {
    err->value = label;
    err->bound = cols;
  }
  return false;
}

// loss = logsumexp(x) - sum_c target_c x_c, target = (1-s) onehot + s/C
__global__ void cross_entropy_kernel(const float* logits, const int64_t* labels, int64_t rows,
                                     int64_t cols, double smoothing, float* loss,
                                     KernelErrorWord* err) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = logits + r * cols;
    const int64_t label = labels[r];
    const bool ok = check_label(label, cols, err);  // uniform across the block
    float m;
    double log_sum;
    row_logsumexp(xr, cols, &m, &log_sum);
    double sum_x = 0.0;
    if (smoothing != 0.0)
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum_x += xr[c];
    sum_x = block_sum(sum_x);
    if (threadIdx.x == 0) {
      if (!ok) {
        loss[r] = NAN;
      } else {
        const double lse = static_cast<double>(m) + log_sum;
        const double target_dot = (1.0 - smoothing) * xr[label] + smoothing / cols * sum_x;
        loss[r] = static_cast<float>(lse - target_dot);
      }
    }
  }
}

__global__ void cross_entropy_backward_kernel(const float* logits, const int64_t* labels,
                                              int64_t rows, int64_t cols, double smoothing,
                                              const float* gloss, float* glogits,
                                              KernelErrorWord* err) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = logits + r * cols;
    float* gr = glogits + r * cols;
    const int64_t label = labels[r];
    const bool ok = check_label(label, cols, err);
    float m;
    double log_sum;
    row_logsumexp(xr, cols, &m, &log_sum);
    const double g = gloss[r];
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      if (!ok) { gr[c] = NAN; continue; }
      const double p = exp(static_cast<double>(xr[c] - m) - log_sum);
      const double target = (c == label ? 1.0 - smoothing : 0.0) + smoothing / cols;
      gr[c] = static_cast<float>(g * (p - target));
    }
  }
}

unsigned row_grid(int64_t rows) { return static_cast<unsigned>(rows < 65535 ? rows : 65535); }

struct RowShape { int64_t rows, cols; };
RowShape row_shape(const Tensor& t, const char* op) {
  BASIN_CHECK(t.dim() == 2, "cuda ", op, ": expected a 2-D tensor, got ", t.str());
  return {t.shape()[0], t.shape()[1]};
}

}  // namespace

void CudaBackend::softmax_rows(const Tensor& x, Tensor& y, bool log) {
  require_f32(x, "softmax");
  require_f32(y, "softmax");
  const RowShape s = row_shape(x, "softmax");
  if (s.rows == 0 || s.cols == 0) return;
  softmax_kernel<<<row_grid(s.rows), kRowThreads, 0, stream()>>>(data_ptr<float>(x), s.rows, s.cols,
                                                                 data_ptr<float>(y), log);
  check_launch("softmax_kernel");
}

void CudaBackend::softmax_backward_rows(const Tensor& gy, const Tensor& y, bool log, Tensor& gx) {
  require_f32(gy, "softmax_backward");
  require_f32(y, "softmax_backward");
  require_f32(gx, "softmax_backward");
  const RowShape s = row_shape(y, "softmax_backward");
  if (s.rows == 0 || s.cols == 0) return;
  softmax_backward_kernel<<<row_grid(s.rows), kRowThreads, 0, stream()>>>(
      data_ptr<float>(gy), data_ptr<float>(y), s.rows, s.cols, log, data_ptr<float>(gx));
  check_launch("softmax_backward_kernel");
}

void CudaBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                        double smoothing, Tensor& loss) {
  require_f32(logits, "cross_entropy");
  require_f32(loss, "cross_entropy");
  BASIN_CHECK(labels.dtype() == DType::I64, "cuda cross_entropy: labels must be i64, got ", labels.str());
  const RowShape s = row_shape(logits, "cross_entropy");
  if (s.rows == 0) return;
  cross_entropy_kernel<<<row_grid(s.rows), kRowThreads, 0, stream()>>>(
      data_ptr<float>(logits), data_ptr<int64_t>(labels), s.rows, s.cols, smoothing,
      data_ptr<float>(loss), context().error_word);
  check_launch("cross_entropy_kernel");
}

void CudaBackend::cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                         double smoothing, const Tensor& gloss, Tensor& glogits) {
  require_f32(logits, "cross_entropy_backward");
  require_f32(gloss, "cross_entropy_backward");
  require_f32(glogits, "cross_entropy_backward");
  BASIN_CHECK(labels.dtype() == DType::I64, "cuda cross_entropy: labels must be i64, got ", labels.str());
  const RowShape s = row_shape(logits, "cross_entropy_backward");
  if (s.rows == 0) return;
  cross_entropy_backward_kernel<<<row_grid(s.rows), kRowThreads, 0, stream()>>>(
      data_ptr<float>(logits), data_ptr<int64_t>(labels), s.rows, s.cols, smoothing,
      data_ptr<float>(gloss), data_ptr<float>(glogits), context().error_word);
  check_launch("cross_entropy_backward_kernel");
}

}  // namespace basin::cuda
