// Batch normalisation over (N, H, W) per channel: training forward (batch
// statistics, optional running-statistics update), evaluation forward and the
// backward pass; the training passes also with a ReLU fused on the output. Per-channel statistics are two-stage reductions: blocks of a
// (split, channel) grid reduce fixed slices into double partials, then one
// thread per channel adds its partials in order — deterministic, no atomics,
// and a handful of channels still fill the GPU.
#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/block_reduce.cuh"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

constexpr int kChannelThreads = kBlockThreads;

__device__ double channel_sum(double v) { return block_reduce<double>(v, SumOp{}); }

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

// How a channel's M elements are cut into slices; depends on the shape only.
struct Split {
  int count;      // slices per channel (gridDim.x of the partial kernels)
  int64_t chunk;  // elements per slice
};

Split split_for(int64_t M) {
  int64_t count = M / 16384;
  if (count < 1) count = 1;
  if (count > 64) count = 64;
  return {static_cast<int>(count), (M + count - 1) / count};
}

// Stage 1: partial[c * splits + k] = sum over slice k of channel c of x (mean
// == nullptr) or of (x - mean[c])^2.
__global__ void bn_partial_kernel(const float* x, BnShape s, int64_t chunk, const double* mean,
                                  double* partial) {
  const int64_t M = s.N * s.HW;
  const int64_t c = blockIdx.y;
  const int64_t begin = blockIdx.x * chunk;
  const int64_t end = begin + chunk < M ? begin + chunk : M;
  double acc = 0.0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const double v = x[bn_index(j, c, s.C, s.HW)];
    if (mean == nullptr) {
      acc += v;
    } else {
      const double d = v - mean[c];
      acc += d * d;
    }
  }
  acc = channel_sum(acc);
  if (threadIdx.x == 0) partial[c * gridDim.x + blockIdx.x] = acc;
}

// Stage 2 of the mean: one thread per channel, partials added in slice order.
__global__ void bn_mean_kernel(const double* partial, int splits, int64_t C, int64_t M, double* mean) {
  BASIN_GRID_STRIDE(c, C) {
    double acc = 0.0;
    for (int k = 0; k < splits; ++k) acc += partial[c * splits + k];
    mean[c] = acc / M;
  }
}

// Stage 2 of the variance, then the saved and running statistics.
__global__ void bn_finish_kernel(const double* partial, int splits, int64_t C, int64_t M,
                                 const double* mean, double eps, bool update_running, double momentum,
                                 float* running_mean, float* running_var, float* save_mean,
                                 float* save_invstd) {
  BASIN_GRID_STRIDE(c, C) {
    double acc = 0.0;
    for (int k = 0; k < splits; ++k) acc += partial[c * splits + k];
    const double var = acc / M;
    save_mean[c] = static_cast<float>(mean[c]);
    save_invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
    if (update_running) {
      const double unbiased = M > 1 ? acc / (M - 1) : var;
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
      running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
}

// y = x * scale + shift in double, scale = invstd * gamma, shift = beta - mean * scale,
// the CPU reference's expression; invstd is the saved one (training) or comes
// from the running variance (evaluation). relu: y = max(y, 0) after rounding.
__global__ void bn_apply_kernel(const float* x, BnShape s, const float* mean, const float* invstd,
                                const float* running_var, double eps, const float* gamma,
                                const float* beta, bool relu, float* y) {
  BASIN_GRID_STRIDE(i, s.N * s.C * s.HW) {
    const int64_t c = (i / s.HW) % s.C;
    const double g = gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0;
    const double scale = invstd != nullptr ? static_cast<double>(invstd[c]) * g
                                           : g / sqrt(static_cast<double>(running_var[c]) + eps);
    const double shift = (beta != nullptr ? static_cast<double>(beta[c]) : 0.0) - static_cast<double>(mean[c]) * scale;
    const float v = static_cast<float>(static_cast<double>(x[i]) * scale + shift);
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

// The upstream gradient at k; with the fused ReLU (relu_y, its output), zero where relu_y <= 0.
__device__ __forceinline__ float masked_grad(const float* gy, const float* relu_y, int64_t k) {
  return relu_y != nullptr && !(relu_y[k] > 0.0f) ? 0.0f : gy[k];
}

// Backward stage 1: per slice, sum(gy) and sum(gy * xhat) into partial[2 * (c * splits + k) + {0, 1}].
__global__ void bn_backward_partial_kernel(const float* gy, const float* relu_y, const float* x,
                                           BnShape s, int64_t chunk, const float* mean,
                                           const float* invstd, double* partial) {
  const int64_t M = s.N * s.HW;
  const int64_t c = blockIdx.y;
  const int64_t begin = blockIdx.x * chunk;
  const int64_t end = begin + chunk < M ? begin + chunk : M;
  const double m = mean[c], is = invstd[c];
  double a = 0.0, b = 0.0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t k = bn_index(j, c, s.C, s.HW);
    const float g = masked_grad(gy, relu_y, k);
    a += g;
    b += static_cast<double>(g) * ((static_cast<double>(x[k]) - m) * is);
  }
  a = channel_sum(a);
  b = channel_sum(b);
  if (threadIdx.x == 0) {
    const int64_t at = 2 * (c * gridDim.x + blockIdx.x);
    partial[at] = a;
    partial[at + 1] = b;
  }
}

// Backward stage 2: sums[2c] = sum(gy) = dL/dbeta, sums[2c+1] = sum(gy*xhat) = dL/dgamma.
__global__ void bn_backward_finish_kernel(const double* partial, int splits, int64_t C, double* sums,
                                          float* ggamma, float* gbeta) {
  BASIN_GRID_STRIDE(c, C) {
    double a = 0.0, b = 0.0;
    for (int k = 0; k < splits; ++k) {
      a += partial[2 * (c * splits + k)];
      b += partial[2 * (c * splits + k) + 1];
    }
    sums[2 * c] = a;
    sums[2 * c + 1] = b;
    if (gbeta != nullptr) gbeta[c] = static_cast<float>(a);
    if (ggamma != nullptr) ggamma[c] = static_cast<float>(b);
  }
}

// gx = gamma * invstd * (gy - sum(gy)/M - xhat * sum(gy*xhat)/M)
__global__ void bn_backward_input_kernel(const float* gy, const float* relu_y, const float* x, BnShape s,
                                         const float* mean, const float* invstd, const float* gamma,
                                         const double* sums, float* gx) {
  const double M = static_cast<double>(s.N * s.HW);
  BASIN_GRID_STRIDE(i, s.N * s.C * s.HW) {
    const int64_t c = (i / s.HW) % s.C;
    const double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
    const double g = gamma != nullptr ? gamma[c] : 1.0;
    const double v = g * invstd[c] *
                     (masked_grad(gy, relu_y, i) - sums[2 * c] / M - xhat * sums[2 * c + 1] / M);
    gx[i] = static_cast<float>(v);
  }
}

const float* optional_f32(const Tensor& t, const char* op) {
  if (!t.defined()) return nullptr;
  require_f32(t, op);
  return data_ptr<float>(t);
}

dim3 partial_grid(const Split& split, int64_t C) {
  BASIN_CHECK(C <= 65535, "cuda batch_norm: ", C, " channels exceed the 65535 this kernel supports");
  return dim3(static_cast<unsigned>(split.count), static_cast<unsigned>(C));
}

// The training forward, with the ReLU fused on y when relu.
void bn_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
              Tensor& running_var, bool update_running, double momentum, double eps, Tensor& y,
              Tensor& save_mean, Tensor& save_invstd, bool relu) {
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
  const int64_t M = s.N * s.HW;
  const Split split = split_for(M);
  DeviceBuffer partial(sizeof(double) * s.C * split.count);
  DeviceBuffer mean(sizeof(double) * s.C);
  bn_partial_kernel<<<partial_grid(split, s.C), kChannelThreads, 0, stream()>>>(
      data_ptr<float>(x), s, split.chunk, nullptr, partial.as<double>());
  check_launch("bn_partial_kernel");
  bn_mean_kernel<<<grid_for(s.C), kThreads, 0, stream()>>>(partial.as<double>(), split.count, s.C, M,
                                                           mean.as<double>());
  check_launch("bn_mean_kernel");
  bn_partial_kernel<<<partial_grid(split, s.C), kChannelThreads, 0, stream()>>>(
      data_ptr<float>(x), s, split.chunk, mean.as<double>(), partial.as<double>());
  check_launch("bn_partial_kernel");
  bn_finish_kernel<<<grid_for(s.C), kThreads, 0, stream()>>>(
      partial.as<double>(), split.count, s.C, M, mean.as<double>(), eps, update_running, momentum, rm,
      rv, data_ptr<float>(save_mean), data_ptr<float>(save_invstd));
  check_launch("bn_finish_kernel");
  bn_apply_kernel<<<grid_for(x.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(x), s, data_ptr<float>(save_mean), data_ptr<float>(save_invstd), nullptr, eps,
      optional_f32(gamma, "batch_norm"), optional_f32(beta, "batch_norm"), relu, data_ptr<float>(y));
  check_launch("bn_apply_kernel");
}

// The training backward; relu_y (the fused ReLU's output) masks gy when given.
void bn_backward(const Tensor& gy, const float* relu_y, const Tensor& x, const Tensor& gamma,
                 const Tensor& save_mean, const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                 Tensor& gbeta) {
  require_f32(gy, "batch_norm_backward");
  require_f32(x, "batch_norm_backward");
  require_f32(save_mean, "batch_norm_backward");
  require_f32(save_invstd, "batch_norm_backward");
  const BnShape s = bn_shape(x);
  if (s.C == 0) return;
  BASIN_CHECK(s.N * s.HW > 0, "cuda batch_norm_backward: no elements per channel in ", x.str());
  const Split split = split_for(s.N * s.HW);
  DeviceBuffer partial(sizeof(double) * 2 * s.C * split.count);
  DeviceBuffer sums(sizeof(double) * 2 * s.C);
  bn_backward_partial_kernel<<<partial_grid(split, s.C), kChannelThreads, 0, stream()>>>(
      data_ptr<float>(gy), relu_y, data_ptr<float>(x), s, split.chunk, data_ptr<float>(save_mean),
      data_ptr<float>(save_invstd), partial.as<double>());
  check_launch("bn_backward_partial_kernel");
  bn_backward_finish_kernel<<<grid_for(s.C), kThreads, 0, stream()>>>(
      partial.as<double>(), split.count, s.C, sums.as<double>(),
      const_cast<float*>(optional_f32(ggamma, "batch_norm_backward")),
      const_cast<float*>(optional_f32(gbeta, "batch_norm_backward")));
  check_launch("bn_backward_finish_kernel");
  if (!gx.defined() || gx.numel() == 0) return;
  require_f32(gx, "batch_norm_backward");
  bn_backward_input_kernel<<<grid_for(x.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(gy), relu_y, data_ptr<float>(x), s, data_ptr<float>(save_mean),
      data_ptr<float>(save_invstd), optional_f32(gamma, "batch_norm_backward"), sums.as<double>(),
      data_ptr<float>(gx));
  check_launch("bn_backward_input_kernel");
}

}  // namespace

void CudaBackend::batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   Tensor& running_mean, Tensor& running_var, bool update_running,
                                   double momentum, double eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) {
  bn_train(x, gamma, beta, running_mean, running_var, update_running, momentum, eps, y, save_mean,
           save_invstd, false);
}

void CudaBackend::batch_norm_relu_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        Tensor& running_mean, Tensor& running_var,
                                        bool update_running, double momentum, double eps,
                                        Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  bn_train(x, gamma, beta, running_mean, running_var, update_running, momentum, eps, y, save_mean,
           save_invstd, true);
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
      eps, optional_f32(gamma, "batch_norm_eval"), optional_f32(beta, "batch_norm_eval"), false,
      data_ptr<float>(y));
  check_launch("bn_apply_kernel");
}

void CudaBackend::batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                      const Tensor& save_mean, const Tensor& save_invstd,
                                      Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  bn_backward(gy, nullptr, x, gamma, save_mean, save_invstd, gx, ggamma, gbeta);
}

void CudaBackend::batch_norm_relu_backward(const Tensor& gy, const Tensor& y, const Tensor& x,
                                           const Tensor& gamma, const Tensor& save_mean,
                                           const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                                           Tensor& gbeta) {
  require_f32(y, "batch_norm_relu_backward");
  BASIN_CHECK(y.numel() == x.numel(), "cuda batch_norm_relu_backward: output ", y.str(),
              " does not match input ", x.str());
  bn_backward(gy, data_ptr<float>(y), x, gamma, save_mean, save_invstd, gx, ggamma, gbeta);
}

}  // namespace basin::cuda
