// Convolution entry points of the CUDA backend and basin's own engine for
// builds without cuDNN: im2col (a column buffer per chunk of images) + cuBLAS
// GEMM, col2im as a gather (no atomics), and the bias kernel both engines use.
#include <algorithm>

#include "cuda/allocator.h"
#include "cuda/conv.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"
#include "cuda/cuda_info.h"
#include "cuda/gemm.h"

namespace basin::cuda {
namespace {

// Column buffers are cut into chunks of images so memory stays bounded.
constexpr size_t kColumnBytes = size_t(128) << 20;

struct ColGeom {
  int64_t C_in, H, W, KH, KW, OH, OW;
  int sh, sw, ph, pw, dh, dw;
};

ColGeom col_geom(const ConvDims& d, const Conv2dParams& p) {
  return {d.C_in, d.H, d.W, d.KH, d.KW, d.OH, d.OW, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
          p.dilation_h, p.dilation_w};
}

// col[j * img_stride + r * row_stride + q], r = (ci, a, b), q = (oh, ow), for
// images j of the chunk starting at x.
__global__ void im2col_kernel(const float* x, ColGeom g, int64_t images, int64_t img_stride,
                              int64_t row_stride, float* col) {
  const int64_t P = g.OH * g.OW, R = g.C_in * g.KH * g.KW;
  BASIN_GRID_STRIDE(i, images * R * P) {
    const int64_t q = i % P, r = (i / P) % R, j = i / (P * R);
    const int64_t ow = q % g.OW, oh = q / g.OW;
    const int64_t b = r % g.KW, a = (r / g.KW) % g.KH, ci = r / (g.KW * g.KH);
    const int64_t h = oh * g.sh - g.ph + a * g.dh, w = ow * g.sw - g.pw + b * g.dw;
    float v = 0.0f;
    if (h >= 0 && h < g.H && w >= 0 && w < g.W) v = x[((j * g.C_in + ci) * g.H + h) * g.W + w];
    col[j * img_stride + r * row_stride + q] = v;
  }
}

// gx[j, ci, h, w] = sum of the column entries that im2col copied from it, in
// (a, b) order; per-image column layout [R, P].
__global__ void col2im_kernel(const float* col, ColGeom g, int64_t images, float* gx) {
  const int64_t P = g.OH * g.OW, R = g.C_in * g.KH * g.KW;
  BASIN_GRID_STRIDE(i, images * g.C_in * g.H * g.W) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, ci = (i / (g.W * g.H)) % g.C_in;
    const int64_t j = i / (g.W * g.H * g.C_in);
    const float* cj = col + j * R * P;
    float sum = 0.0f;
    for (int64_t a = 0; a < g.KH; ++a) {
      const int64_t th = h + g.ph - a * g.dh;
      if (th < 0 || th % g.sh != 0) continue;
      const int64_t oh = th / g.sh;
      if (oh >= g.OH) continue;
      for (int64_t b = 0; b < g.KW; ++b) {
        const int64_t tw = w + g.pw - b * g.dw;
        if (tw < 0 || tw % g.sw != 0) continue;
        const int64_t ow = tw / g.sw;
        if (ow >= g.OW) continue;
        sum += cj[((ci * g.KH + a) * g.KW + b) * P + oh * g.OW + ow];
      }
    }
    gx[i] = sum;
  }
}

// [images, C, P] -> [C, images * P]
__global__ void channel_major_kernel(const float* src, int64_t images, int64_t C, int64_t P, float* dst) {
  BASIN_GRID_STRIDE(i, images * C * P) {
    const int64_t q = i % P, c = (i / P) % C, j = i / (P * C);
    dst[c * images * P + j * P + q] = src[i];
  }
}

__global__ void bias_kernel(const float* bias, int64_t C, int64_t P, float* y, int64_t n) {
  BASIN_GRID_STRIDE(i, n) { y[i] += bias[(i / P) % C]; }
}

int64_t chunk_images(const ConvDims& d) {
  const int64_t per_image = d.C_in * d.KH * d.KW * d.OH * d.OW * static_cast<int64_t>(sizeof(float));
  const int64_t fit = per_image > 0 ? static_cast<int64_t>(kColumnBytes) / per_image : d.N;
  return std::max<int64_t>(1, std::min<int64_t>(d.N, fit));
}

void require_conv_operands(const Tensor& a, const Tensor& b, const Tensor& c, const char* op) {
  require_f32(a, op);
  require_f32(b, op);
  require_f32(c, op);
}

}  // namespace

ConvDims conv_dims(const Tensor& x, const Tensor& w, const Tensor& y) {
  BASIN_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4, "cuda conv2d: expected 4-D x, w, y; got ",
              x.str(), ", ", w.str(), ", ", y.str());
  return {x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], w.shape()[0],
          w.shape()[2], w.shape()[3], y.shape()[2], y.shape()[3]};
}

void add_channel_bias(const Tensor& bias, Tensor& y) {
  if (!bias.defined() || y.numel() == 0) return;
  require_f32(bias, "conv2d bias");
  const int64_t C = y.shape()[1], P = y.numel() / (y.shape()[0] * C);
  bias_kernel<<<grid_for(y.numel()), kThreads, 0, stream()>>>(data_ptr<float>(bias), C, P,
                                                              data_ptr<float>(y), y.numel());
  check_launch("bias_kernel");
}

void im2col_conv_forward(const ConvDims& d, const Conv2dParams& p, const float* x, const float* w, float* y) {
  const ColGeom g = col_geom(d, p);
  const int64_t R = d.C_in * d.KH * d.KW, P = d.OH * d.OW, chunk = chunk_images(d);
  DeviceBuffer col(sizeof(float) * chunk * R * P);
  for (int64_t n0 = 0; n0 < d.N; n0 += chunk) {
    const int64_t images = std::min(chunk, d.N - n0);
    im2col_kernel<<<grid_for(images * R * P), kThreads, 0, stream()>>>(
        x + n0 * d.C_in * d.H * d.W, g, images, R * P, P, col.as<float>());
    check_launch("im2col_kernel");
    // y_j [C_out, P] = W [C_out, R] * col_j [R, P]
    gemm_f32(false, false, images, d.C_out, P, R, 1.0f, w, 0, col.as<float>(), R * P, 0.0f,
             y + n0 * d.C_out * P, d.C_out * P);
  }
}

void im2col_conv_backward_input(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* w,
                                float* gx) {
  const ColGeom g = col_geom(d, p);
  const int64_t R = d.C_in * d.KH * d.KW, P = d.OH * d.OW, chunk = chunk_images(d);
  DeviceBuffer col(sizeof(float) * chunk * R * P);
  for (int64_t n0 = 0; n0 < d.N; n0 += chunk) {
    const int64_t images = std::min(chunk, d.N - n0);
    // col_j [R, P] = W^T [R, C_out] * gy_j [C_out, P]
    gemm_f32(true, false, images, R, P, d.C_out, 1.0f, w, 0, gy + n0 * d.C_out * P, d.C_out * P, 0.0f,
             col.as<float>(), R * P);
    col2im_kernel<<<grid_for(images * d.C_in * d.H * d.W), kThreads, 0, stream()>>>(
        col.as<float>(), g, images, gx + n0 * d.C_in * d.H * d.W);
    check_launch("col2im_kernel");
  }
}

void im2col_conv_backward_weight(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* x,
                                 float* gw) {
  const ColGeom g = col_geom(d, p);
  const int64_t R = d.C_in * d.KH * d.KW, P = d.OH * d.OW, chunk = chunk_images(d);
  DeviceBuffer col(sizeof(float) * chunk * R * P);
  DeviceBuffer gy_t(sizeof(float) * chunk * d.C_out * P);
  for (int64_t n0 = 0; n0 < d.N; n0 += chunk) {
    const int64_t images = std::min(chunk, d.N - n0);
    // Columns of all images side by side: col [R, images * P]; gy as [C_out, images * P].
    im2col_kernel<<<grid_for(images * R * P), kThreads, 0, stream()>>>(
        x + n0 * d.C_in * d.H * d.W, g, images, P, images * P, col.as<float>());
    check_launch("im2col_kernel");
    channel_major_kernel<<<grid_for(images * d.C_out * P), kThreads, 0, stream()>>>(
        gy + n0 * d.C_out * P, images, d.C_out, P, gy_t.as<float>());
    check_launch("channel_major_kernel");
    // gw [C_out, R] (+)= gy_t [C_out, images*P] * col^T
    gemm_f32(false, true, 1, d.C_out, R, images * P, 1.0f, gy_t.as<float>(), 0, col.as<float>(), 0,
             n0 == 0 ? 0.0f : 1.0f, gw, 0);
  }
  if (d.N == 0) CUDA_CHECK(cudaMemsetAsync(gw, 0, sizeof(float) * d.C_out * R, stream()));
}

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y,
                                 const Conv2dParams& p) {
  require_conv_operands(x, w, y, "conv2d");
  const ConvDims d = conv_dims(x, w, y);
  if (y.numel() == 0) return;
#if defined(BASIN_HAS_CUDNN)
  if (uses_cudnn()) {
    cudnn_conv_forward(d, p, data_ptr<float>(x), data_ptr<float>(w), data_ptr<float>(y));
  } else
#endif
  {
    im2col_conv_forward(d, p, data_ptr<float>(x), data_ptr<float>(w), data_ptr<float>(y));
  }
  add_channel_bias(bias, y);
}

void CudaBackend::conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx,
                                        const Conv2dParams& p) {
  require_conv_operands(gy, w, gx, "conv2d_backward_input");
  const ConvDims d = conv_dims(gx, w, gy);
  if (gx.numel() == 0) return;
#if defined(BASIN_HAS_CUDNN)
  if (uses_cudnn()) {
    cudnn_conv_backward_input(d, p, data_ptr<float>(gy), data_ptr<float>(w), data_ptr<float>(gx));
  } else
#endif
  {
    im2col_conv_backward_input(d, p, data_ptr<float>(gy), data_ptr<float>(w), data_ptr<float>(gx));
  }
}

void CudaBackend::conv2d_backward_weight(const Tensor& gy, const Tensor& x, Tensor& gw,
                                         const Conv2dParams& p) {
  require_conv_operands(gy, x, gw, "conv2d_backward_weight");
  const ConvDims d = conv_dims(x, gw, gy);
  if (gw.numel() == 0) return;
#if defined(BASIN_HAS_CUDNN)
  if (uses_cudnn()) {
    cudnn_conv_backward_weight(d, p, data_ptr<float>(gy), data_ptr<float>(x), data_ptr<float>(gw));
  } else
#endif
  {
    im2col_conv_backward_weight(d, p, data_ptr<float>(gy), data_ptr<float>(x), data_ptr<float>(gw));
  }
}

}  // namespace basin::cuda
