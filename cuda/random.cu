// Random fills and the augmentation kernel, both on the Philox stream of
// core/philox.h with the exact per-element formulas of core/backend.h, so a
// CUDA fill or augmented batch equals the CPU one for the same (seed, offset).
#include <cmath>

#include "core/philox.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

template <class T>
__global__ void fill_uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset,
                                    const int64_t* offset_value, double lo, double hi) {
  // A captured step's Philox offset lives in device memory (fill_uniform_at).
  if (offset_value) offset = static_cast<uint64_t>(*offset_value);
  BASIN_GRID_STRIDE(i, n) {
    // Explicit rounding intrinsics: no fused multiply-add, so the value is the
    // CPU's bit for bit.
    const double u = philox_uniform_at(seed, offset + static_cast<uint64_t>(i));
    out[i] = static_cast<T>(__dadd_rn(lo, __dmul_rn(hi - lo, u)));
  }
}

template <class T>
__global__ void fill_normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                                   double std) {
  const double two_pi = 6.283185307179586476925286766559;
  BASIN_GRID_STRIDE(i, n) {
    const Philox4 r = philox4x32(seed, offset + static_cast<uint64_t>(i));
    const double u1 = philox_uniform_f64(r.v[0], r.v[1]);
    const double u2 = philox_uniform_f64(r.v[2], r.v[3]);
    // The CPU's association, mean + ((std * radius) * cos), without FMA contraction.
    const double radius = sqrt(-2.0 * log(1.0 - u1));
    const double angle = __dmul_rn(two_pi, u2);
    out[i] = static_cast<T>(__dadd_rn(mean, __dmul_rn(__dmul_rn(std, radius), cos(angle))));
  }
}

struct AugmentGeom {
  int64_t N, C, H, W;
};

// numpy 'reflect': the edge pixel is not repeated (-1 -> 1, n -> n-2); folds
// repeatedly when the padding is wider than the image.
__device__ __forceinline__ int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

__global__ void augment_kernel(const uint8_t* src, AugmentGeom g, AugmentSpec spec, uint64_t seed,
                               uint64_t offset, float* out) {
  BASIN_GRID_STRIDE(i, g.N * g.C * g.H * g.W) {
    const int64_t x = i % g.W, y = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C;
    const int64_t sample = i / (g.W * g.H * g.C);
    const Philox4 r = philox4x32(seed, offset + static_cast<uint64_t>(sample));
    const uint32_t window = static_cast<uint32_t>(2 * spec.pad + 1);
    const int64_t dy = r.v[0] % window, dx = r.v[1] % window;
    const bool flip = spec.flip_prob > 0.0f && philox_uniform_f32(r.v[2]) < spec.flip_prob;
    const int64_t xs = flip ? g.W - 1 - x : x;
    int64_t sy = y + dy - spec.pad, sx = xs + dx - spec.pad;
    float value = 0.0f;  // zero padding: 0 in uint8 space
    bool inside = sy >= 0 && sy < g.H && sx >= 0 && sx < g.W;
    if (!inside && spec.reflect_pad) {
      sy = reflect_index(sy, g.H);
      sx = reflect_index(sx, g.W);
      inside = true;
    }
    if (inside) value = static_cast<float>(src[((sample * g.C + c) * g.H + sy) * g.W + sx]);
    out[i] = (value / 255.0f - spec.mean[c]) / spec.std[c];
  }
}

void launch_fill_uniform(Tensor& out, uint64_t seed, uint64_t offset, const int64_t* offset_value, double lo,
                         double hi) {
  const int64_t n = out.numel();
  if (n == 0) return;
  if (out.dtype() == DType::F64) {
    fill_uniform_kernel<double><<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<double>(out), n, seed, offset,
                                                                        offset_value, lo, hi);
  } else {
    require_f32(out, "fill_uniform");
    fill_uniform_kernel<float><<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<float>(out), n, seed, offset,
                                                                       offset_value, lo, hi);
  }
  check_launch("fill_uniform_kernel");
}

}  // namespace

void CudaBackend::fill_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  launch_fill_uniform(out, seed, offset, nullptr, lo, hi);
}

void CudaBackend::fill_uniform_at(Tensor& out, uint64_t seed, const Tensor& offset, double lo, double hi) {
  BASIN_CHECK(offset.defined() && offset.dtype() == DType::I64 && offset.numel() == 1,
              "cuda fill_uniform_at: the offset must be an i64 tensor of one element, got ",
              offset.defined() ? offset.str() : std::string("undefined"));
  launch_fill_uniform(out, seed, 0, data_ptr<int64_t>(offset), lo, hi);
}

void CudaBackend::fill_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t n = out.numel();
  if (n == 0) return;
  if (out.dtype() == DType::F64) {
    fill_normal_kernel<double><<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<double>(out), n, seed, offset, mean, std);
  } else {
    require_f32(out, "fill_normal");
    fill_normal_kernel<float><<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<float>(out), n, seed, offset, mean, std);
  }
  check_launch("fill_normal_kernel");
}

void CudaBackend::augment(const Tensor& src, const AugmentSpec& spec, uint64_t seed, uint64_t offset,
                          Tensor& out) {
  BASIN_CHECK(src.dtype() == DType::U8, "cuda augment: source must be u8, got ", src.str());
  require_f32(out, "augment");
  BASIN_CHECK(src.dim() == 4 && out.shape() == src.shape(), "cuda augment: expected u8 [N, C, H, W] and an f32 "
              "output of the same shape, got ", src.str(), " and ", out.str());
  const AugmentGeom g{src.shape()[0], src.shape()[1], src.shape()[2], src.shape()[3]};
  BASIN_CHECK(g.C <= 4, "cuda augment: at most 4 channels (AugmentSpec holds 4 means), got ", src.str());
  BASIN_CHECK(spec.pad >= 0, "cuda augment: negative pad ", spec.pad);
  for (int64_t c = 0; c < g.C; ++c)
    BASIN_CHECK(spec.std[c] != 0.0f, "cuda augment: std[", c, "] is zero");
  if (out.numel() == 0) return;
  augment_kernel<<<grid_for(out.numel()), kThreads, 0, stream()>>>(data_ptr<uint8_t>(src), g, spec, seed,
                                                                   offset, data_ptr<float>(out));
  check_launch("augment_kernel");
}

}  // namespace basin::cuda
