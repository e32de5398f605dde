// CPU 2-D convolution (NCHW, groups = 1) forward and both backward passes, by
// im2col + gemm, or an implicit gemm for 3x3 stride-1 layers, parallel over OpenMP.
#pragma once
#include <cstdint>

#include "core/backend.h"

namespace basin::cpu {

struct ConvShape {
  int64_t N, C_in, H, W;      // input
  int64_t C_out, KH, KW;      // weight [C_out, C_in, KH, KW]
  int64_t OH, OW;             // output
};

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dParams& p);

// y = conv(x, w) + bias (bias may be null)
template <class T>
void conv2d_forward(const ConvShape& s, const Conv2dParams& p, const T* x, const T* w,
                    const T* bias, T* y);
// gx = dL/dx given gy = dL/dy (overwrites gx)
template <class T>
void conv2d_backward_input(const ConvShape& s, const Conv2dParams& p, const T* gy, const T* w,
                           T* gx);
// gw = dL/dw given gy (overwrites gw)
template <class T>
void conv2d_backward_weight(const ConvShape& s, const Conv2dParams& p, const T* gy, const T* x,
                            T* gw);

}  // namespace basin::cpu
