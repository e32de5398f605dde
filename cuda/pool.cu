// Max and average pooling (NCHW) forward and backward. Backward passes gather
// (each input pixel sums the windows that cover it) or, for max pooling whose
// window geometry is not passed in, scatter serially per plane — either way no
// atomics, so gradients are deterministic.
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

struct PoolGeom {
  int64_t planes, H, W, OH, OW;
  int kh, kw, sh, sw, ph, pw;
  bool include_pad;
};

PoolGeom pool_geom(const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  BASIN_CHECK(x.dim() == 4 && y.dim() == 4, "cuda pool: expected NCHW tensors, got ", x.str(), " and ", y.str());
  PoolGeom g;
  g.planes = x.shape()[0] * x.shape()[1];
  g.H = x.shape()[2];
  g.W = x.shape()[3];
  g.OH = y.shape()[2];
  g.OW = y.shape()[3];
  g.kh = p.kernel_h; g.kw = p.kernel_w;
  g.sh = p.stride_h; g.sw = p.stride_w;
  g.ph = p.pad_h; g.pw = p.pad_w;
  g.include_pad = p.count_include_pad;
  return g;
}

__global__ void max_pool_forward_kernel(const float* x, PoolGeom g, float* y, int32_t* indices) {
  BASIN_GRID_STRIDE(i, g.planes * g.OH * g.OW) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, plane = i / (g.OW * g.OH);
    const float* xp = x + plane * g.H * g.W;
    float best = -INFINITY;
    int64_t best_idx = -1;
    for (int a = 0; a < g.kh; ++a) {
      const int64_t h = oh * g.sh - g.ph + a;
      if (h < 0 || h >= g.H) continue;
      for (int b = 0; b < g.kw; ++b) {
        const int64_t w = ow * g.sw - g.pw + b;
        if (w < 0 || w >= g.W) continue;
        const float v = xp[h * g.W + w];
        // strict > keeps the first maximum; a NaN wins once (as on the CPU)
        if (best_idx < 0 || v > best || (v != v && best == best)) { best = v; best_idx = h * g.W + w; }
      }
    }
    y[i] = best;
    indices[i] = static_cast<int32_t>(best_idx < 0 ? 0 : best_idx);
  }
}

// One thread per plane adds its outputs' gradients in output order.
__global__ void max_pool_backward_kernel(const float* gy, const int32_t* indices, int64_t planes,
                                         int64_t out_plane, int64_t in_plane, float* gx) {
  BASIN_GRID_STRIDE(plane, planes) {
    float* gxp = gx + plane * in_plane;
    for (int64_t j = 0; j < in_plane; ++j) gxp[j] = 0.0f;
    const float* gyp = gy + plane * out_plane;
    const int32_t* ip = indices + plane * out_plane;
    for (int64_t j = 0; j < out_plane; ++j) gxp[ip[j]] += gyp[j];
  }
}

// Window of output (oh, ow) and its divisor, as in the CPU reference.
__device__ __forceinline__ float avg_divisor(const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0)); w0 = max(w0, int64_t(0));
  h1 = min(h1, g.H); w1 = min(w1, g.W);
  const int64_t inside = (h1 - h0) * (w1 - w0);
  return static_cast<float>(g.include_pad ? padded : (inside > 0 ? inside : 1));
}

__global__ void avg_pool_forward_kernel(const float* x, PoolGeom g, float* y) {
  BASIN_GRID_STRIDE(i, g.planes * g.OH * g.OW) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, plane = i / (g.OW * g.OH);
    const float* xp = x + plane * g.H * g.W;
    float sum = 0.0f;
    for (int a = 0; a < g.kh; ++a) {
      const int64_t h = oh * g.sh - g.ph + a;
      if (h < 0 || h >= g.H) continue;
      for (int b = 0; b < g.kw; ++b) {
        const int64_t w = ow * g.sw - g.pw + b;
        if (w < 0 || w >= g.W) continue;
        sum += xp[h * g.W + w];
      }
    }
    y[i] = sum / avg_divisor(g, oh, ow);
  }
}

__global__ void avg_pool_backward_kernel(const float* gy, PoolGeom g, float* gx) {
  BASIN_GRID_STRIDE(i, g.planes * g.H * g.W) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, plane = i / (g.W * g.H);
    const float* gyp = gy + plane * g.OH * g.OW;
    // Outputs whose window [o*s - p, o*s - p + k) contains h (resp. w).
    const int64_t oh_lo = max(int64_t(0), (h + g.ph - g.kh + g.sh) / g.sh);
    const int64_t oh_hi = min(g.OH - 1, (h + g.ph) / g.sh);
    const int64_t ow_lo = max(int64_t(0), (w + g.pw - g.kw + g.sw) / g.sw);
    const int64_t ow_hi = min(g.OW - 1, (w + g.pw) / g.sw);
    float sum = 0.0f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
      if (h < oh * g.sh - g.ph || h >= oh * g.sh - g.ph + g.kh) continue;
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        if (w < ow * g.sw - g.pw || w >= ow * g.sw - g.pw + g.kw) continue;
        sum += gyp[oh * g.OW + ow] / avg_divisor(g, oh, ow);
      }
    }
    gx[i] = sum;
  }
}

}  // namespace

void CudaBackend::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                     const Pool2dParams& p) {
  require_f32(x, "max_pool2d");
  require_f32(y, "max_pool2d");
  BASIN_CHECK(indices.dtype() == DType::I32, "cuda max_pool2d: indices must be i32, got ", indices.str());
  const PoolGeom g = pool_geom(x, y, p);
  if (y.numel() == 0) return;
  max_pool_forward_kernel<<<grid_for(y.numel()), kThreads, 0, stream()>>>(
      data_ptr<float>(x), g, data_ptr<float>(y), data_ptr<int32_t>(indices));
  check_launch("max_pool_forward_kernel");
}

void CudaBackend::max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) {
  require_f32(gy, "max_pool2d_backward");
  require_f32(gx, "max_pool2d_backward");
  BASIN_CHECK(gy.dim() == 4 && gx.dim() == 4, "cuda max_pool2d_backward: expected NCHW, got ",
              gy.str(), " and ", gx.str());
  const int64_t planes = gx.shape()[0] * gx.shape()[1];
  if (planes == 0) return;
  const int64_t in_plane = gx.shape()[2] * gx.shape()[3];
  const int64_t out_plane = gy.shape()[2] * gy.shape()[3];
  max_pool_backward_kernel<<<grid_for(planes, 128), 128, 0, stream()>>>(
      data_ptr<float>(gy), data_ptr<int32_t>(indices), planes, out_plane, in_plane, data_ptr<float>(gx));
  check_launch("max_pool_backward_kernel");
}

void CudaBackend::avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  require_f32(x, "avg_pool2d");
  require_f32(y, "avg_pool2d");
  const PoolGeom g = pool_geom(x, y, p);
  if (y.numel() == 0) return;
  avg_pool_forward_kernel<<<grid_for(y.numel()), kThreads, 0, stream()>>>(data_ptr<float>(x), g,
                                                                          data_ptr<float>(y));
  check_launch("avg_pool_forward_kernel");
}

void CudaBackend::avg_pool2d_backward(const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  require_f32(gy, "avg_pool2d_backward");
  require_f32(gx, "avg_pool2d_backward");
  const PoolGeom g = pool_geom(gx, gy, p);
  if (gx.numel() == 0) return;
  avg_pool_backward_kernel<<<grid_for(gx.numel()), kThreads, 0, stream()>>>(data_ptr<float>(gy), g,
                                                                            data_ptr<float>(gx));
  check_launch("avg_pool_backward_kernel");
}

}  // namespace basin::cuda
