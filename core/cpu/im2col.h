// im2col / col2im for NCHW convolution: unfold one sample's receptive fields
// into a [C_in*KH*KW, OH*OW] block of a wider column matrix, and fold back.
// Shared by the forward and both backward passes in core/cpu/conv.cpp.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/backend.h"
#include "core/cpu/conv.h"

namespace basin::cpu {

// Range of output columns ow whose input column ow*stride - pad + offset lies in [0, W).
inline void valid_out_range(int64_t OW, int64_t W, int stride, int64_t shift, int64_t& lo,
                            int64_t& hi) {
  // iw = ow*stride + shift; need 0 <= iw < W
  lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  hi = W - shift <= 0 ? 0 : (W - shift + stride - 1) / stride;
  lo = std::min<int64_t>(lo, OW);
  hi = std::min<int64_t>(std::max<int64_t>(hi, lo), OW);
}

// Writes rows [c*KH*KW, (c+1)*KH*KW) of the column block for input channel c of
// one sample: col[(c,kh,kw), oh*OW+ow] = x[c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] or 0.
// Rows have leading dimension ldcol.
template <class T>
void im2col_channel(const ConvShape& s, const Conv2dParams& p, const T* x_plane, int64_t c,
                    T* col, int64_t ldcol) {
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) {
      T* row = col + ((c * s.KH + kh) * s.KW + kw) * ldcol;
      const int64_t shift_w = kw * p.dilation_w - p.pad_w;
      int64_t lo, hi;
      valid_out_range(s.OW, s.W, p.stride_w, shift_w, lo, hi);
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        T* dst = row + oh * s.OW;
        const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
        if (ih < 0 || ih >= s.H) {
          for (int64_t ow = 0; ow < s.OW; ++ow) dst[ow] = T(0);
          continue;
        }
        // Rows are short (a feature-map row), so inline loops beat memcpy/fill calls.
        const T* src = x_plane + ih * s.W + shift_w;
        for (int64_t ow = 0; ow < lo; ++ow) dst[ow] = T(0);
        if (p.stride_w == 1) {
#pragma omp simd
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * p.stride_w];
        }
        for (int64_t ow = hi; ow < s.OW; ++ow) dst[ow] = T(0);
      }
    }
}

// Adjoint of im2col_channel: x_plane (overwritten) = sum of the column entries
// that read each input position. Sequential inside the plane, so deterministic.
template <class T>
void col2im_channel(const ConvShape& s, const Conv2dParams& p, const T* col, int64_t ldcol,
                    int64_t c, T* x_plane) {
  std::fill(x_plane, x_plane + s.H * s.W, T(0));
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) {
      const T* row = col + ((c * s.KH + kh) * s.KW + kw) * ldcol;
      const int64_t shift_w = kw * p.dilation_w - p.pad_w;
      int64_t lo, hi;
      valid_out_range(s.OW, s.W, p.stride_w, shift_w, lo, hi);
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
        if (ih < 0 || ih >= s.H) continue;
        const T* src = row + oh * s.OW;
        T* dst = x_plane + ih * s.W + shift_w;
        if (p.stride_w == 1) {
#pragma omp simd
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * p.stride_w] += src[ow];
        }
      }
    }
}

}  // namespace basin::cpu
