// Batch normalisation over (N, H, W) per channel: training forward (batch
// statistics, optional running-statistics update), evaluation forward and the
// backward pass. Per-channel statistics come from one block per channel that
// walks its elements in a fixed order and reduces in double — deterministic.
#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

constexpr int kChannelThreads = 512;

__device__ double channel_sum(double v) {
  __shared__ double shared[kChannelThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

struct BnShape { int64_t N, C, HW; };

BnShape bn_shape(const Tensor& x) {
  BASIN_CHECK(x.dim() >= 2, "cuda batch_norm: expected [N, C, ...], got ", x.str());
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t HW = (N * C) == 0 ? 0 : x.numel() / (N * C);
  return {N, C, HW};
}

// Element j of channel c, j over (n, hw) in row-major order.
__device__ __forceinline__ int64_t bn_index(int64_t j, int64_t c, int64_t C, int64_t HW) {
  const int64_t n = j / HW, hw = j % HW;
  return (n * C + c) * HW + hw;
}

__global__ void bn_stats_kernel(const float* x, BnShape s, double eps, bool update_running,
                                double momentum, float* running_mean, float* running_var,
                                float* save_mean, float* save_invstd) {
  const int64_t M = s.N * s.HW;
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) acc += x[bn_index(j, c, s.C, s.HW)];
    const double mean = channel_sum(acc) / M;
    acc = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const double d = x[bn_index(j, c, s.C, s.HW)] - mean;
      acc += d * d;
    }
    const double var = channel_sum(acc) / M;
    if (threadIdx.x == 0) {
      save_mean[c] = static_cast<float>(mean);
      save_invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
      if (update_running) {
        const double unbiased = M > 1 ? var * M / (M - 1) : var;
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    }
  }
}

// y = x * scale + shift in double, scale = invstd * gamma, shift = beta - mean * scale,
// the CPU reference's expression; invstd is the saved one (training) or comes
// from the running variance (evaluation).
__global__ void bn_apply_kernel(const float* x, BnShape s, const float* mean, const float* invstd,
                                const float* running_var, double eps, const float* gamma,
                                const float* beta, float* y) {
  BASIN_GRID_STRIDE(i, s.N * s.C * s.HW) {
    const int64_t c = (i / s.HW) % s.C;
    const double g = gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0;
    const double scale = invstd != nullptr ? static_cast<double>(invstd[c]) * g
                                           : g / sqrt(static_cast<double>(running_var[c]) + eps);
    const double shift = (beta != nullptr ? static_cast<double>(beta[c]) : 0.0) - static_cast<double>(mean[c]) * scale;
    y[i] = static_cast<float>(static_cast<double>(x[i]) * scale + shift);
  }
}

// Per channel: sum(gy) and sum(gy * xhat).
__global__ void bn_backward_reduce_kernel(const float* gy, const float* x, BnShape s,
                                          const float* mean, const float* invstd, double* sums,
                                          float* ggamma, float* gbeta) {
  const int64_t M = s.N * s.HW;
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    double a = 0.0, b = 0.0;
    const double m = mean[c], is = invstd[c];
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t k = bn_index(j, c, s.C, s.HW);
      a += gy[k];
      b += static_cast<double>(gy[k]) * ((static_cast<double>(x[k]) - m) * is);
    }
    a = channel_sum(a);
    b = channel_sum(b);
    if (threadIdx.x == 0) {
      sums[2 * c] = a;
      sums[2 * c + 1] = b;
      if (gbeta != nullptr) gbeta[c] = static_cast<float>(a);
      if (ggamma != nullptr) ggamma[c] = static_cast<float>(b);
    }
  }
}

// gx = gamma * invstd * (gy - sum(gy)/M - xhat * sum(gy*xhat)/M)
__global__ void bn_backward_input_kernel(const float* gy, const float* x, BnShape s,
                                         const float* mean, const float* invstd, const float* gamma,
                                         const double* sums, float* gx) {
  const double M = static_cast<double>(s.N * s.HW);
  BASIN_GRID_STRIDE(i, s.N * s.C * s.HW) {
    const int64_t c = (i / s.HW) % s.C;
    const double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
    const double g = gamma != nullptr ? gamma[c] : 1.0;
    const double v = g * invstd[c] * (gy[i] - sums[2 * c] / M - xhat * sums[2 * c + 1] / M);
    gx[i] = static_cast<float>(v);
  }
}

const float* optional_f32(const Tensor& t, const char* op) {
  if (!t.defined()) return nullptr;
  require_f32(t, op);
  return data_ptr<float>(t);
}

unsigned channel_grid(int64_t C) { return static_cast<unsigned>(C < 65535 ? C : 65535); }

}  // namespace

void CudaBackend::batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   Tensor& running_mean, Tensor& running_var, bool update_running,
                                   double momentum, double eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) {
  require_f32(x, "batch_norm");
  require_f32(y, "batch_norm");
  require_f32(save_mean, "batch_norm");
  require_f32(save_invstd, "batch_norm");
  const BnShape s = bn_shape(x);
  if (s.C == 0) return;
  BASIN_CHECK(s.N * s.HW > 0, "cuda batch_norm: no elements per channel in ", x.str());
  float* rm = nullptr;
  float* rv = nullptr;
  if (update_running) {
    rm = const_cast<float*>(optional_f32(running_mean, "batch_norm"));
    rv = const_cast<float*>(optional_f32(running_var, "batch_norm"));
    BASIN_CHECK(rm != nullptr && rv != nullptr, "cuda batch_norm: update_running needs running statistics");
  }
  bn_stats_kernel<<<channel_grid(s.C), kChannelThreads, 0, stream()>>>(
      data_ptr<float>(x), s, eps, update_running, momentum, rm, rv, data_ptr<float>(save_mean),
      data_ptr<float>(save_invstd));
  check_launch("bn_stats_kernel");
  bn_apply_kernel<<<grid_for(x.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(x), s, data_ptr<float>(save_mean), data_ptr<float>(save_invstd), nullptr, eps,
      optional_f32(gamma, "batch_norm"), optional_f32(beta, "batch_norm"), data_ptr<float>(y));
  check_launch("bn_apply_kernel");
}

void CudaBackend::batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var,
                                  double eps, Tensor& y) {
  require_f32(x, "batch_norm_eval");
  require_f32(y, "batch_norm_eval");
  require_f32(running_mean, "batch_norm_eval");
  require_f32(running_var, "batch_norm_eval");
  const BnShape s = bn_shape(x);
  if (x.numel() == 0) return;
  bn_apply_kernel<<<grid_for(x.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(x), s, data_ptr<float>(running_mean), nullptr, data_ptr<float>(running_var),
      eps, optional_f32(gamma, "batch_norm_eval"), optional_f32(beta, "batch_norm_eval"),
      data_ptr<float>(y));
  check_launch("bn_apply_kernel");
}

void CudaBackend::batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                      const Tensor& save_mean, const Tensor& save_invstd,
                                      Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  require_f32(gy, "batch_norm_backward");
  require_f32(x, "batch_norm_backward");
  require_f32(save_mean, "batch_norm_backward");
  require_f32(save_invstd, "batch_norm_backward");
  const BnShape s = bn_shape(x);
  if (s.C == 0) return;
  DeviceBuffer sums(sizeof(double) * 2 * s.C);
  bn_backward_reduce_kernel<<<channel_grid(s.C), kChannelThreads, 0, stream()>>>(
      data_ptr<float>(gy), data_ptr<float>(x), s, data_ptr<float>(save_mean),
      data_ptr<float>(save_invstd), sums.as<double>(),
      const_cast<float*>(optional_f32(ggamma, "batch_norm_backward")),
      const_cast<float*>(optional_f32(gbeta, "batch_norm_backward")));
  check_launch("bn_backward_reduce_kernel");
  if (!gx.defined() || gx.numel() == 0) return;
  require_f32(gx, "batch_norm_backward");
  bn_backward_input_kernel<<<grid_for(x.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(gy), data_ptr<float>(x), s, data_ptr<float>(save_mean),
      data_ptr<float>(save_invstd), optional_f32(gamma, "batch_norm_backward"), sums.as<double>(),
      data_ptr<float>(gx));
  check_launch("bn_backward_input_kernel");
}

}  // namespace basin::cuda
