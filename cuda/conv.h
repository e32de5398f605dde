// Internal to cuda/: the two convolution engines behind the CudaBackend conv
// methods — cuDNN (when built with it) and basin's own im2col + cuBLAS path.
// Both take contiguous NCHW f32 tensors and overwrite their output.
#pragma once
#include "core/backend.h"

namespace basin::cuda {

struct ConvDims {
  int64_t N, C_in, H, W, C_out, KH, KW, OH, OW;
};
ConvDims conv_dims(const Tensor& x_or_gx, const Tensor& w_or_gw, const Tensor& y_or_gy);

// Adds bias[c] to every element of channel c of y [N, C, OH*OW].
void add_channel_bias(const Tensor& bias, Tensor& y);

// basin's own kernels (always built).
void im2col_conv_forward(const ConvDims& d, const Conv2dParams& p, const float* x, const float* w, float* y);
void im2col_conv_backward_input(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* w,
                                float* gx);
void im2col_conv_backward_weight(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* x,
                                 float* gw);

// cuDNN (defined only when BASIN_HAS_CUDNN).
void cudnn_conv_forward(const ConvDims& d, const Conv2dParams& p, const float* x, const float* w, float* y);
void cudnn_conv_backward_input(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* w,
                               float* gx);
void cudnn_conv_backward_weight(const ConvDims& d, const Conv2dParams& p, const float* gy, const float* x,
                                float* gw);

}  // namespace basin::cuda
