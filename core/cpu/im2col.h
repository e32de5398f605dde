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

// Zeroes n elements (n is 0..pad here): a plain loop, which the compiler
// would turn into a memset call costing more than the one or two stores.
template <class T>
inline void zero_few(T* p, int64_t n) {
  if (n <= 0) return;
  p[0] = T(0);
  for (int64_t i = 1; i < n; ++i) p[i] = T(0);
}

// With stride 1 and OW == W (a "same"-width convolution, e.g. 3x3 pad 1), the
// row (kh, kw) of a channel's column block is the plane shifted by
// shift = (kh*dh - ph)*W + (kw*dw - pw): col[i] = x[i + shift] for the output
// rows oh in [oh_lo, oh_hi) that read inside the plane, except the few columns
// per row that fall off the left or right edge (there the shift wraps into the
// neighbouring row; those entries are zero). ShiftedRow describes that.
struct ShiftedRow {
  int64_t shift, begin, end;  // col[begin, end) pairs with x[begin + shift, end + shift)
  int64_t oh_lo, oh_hi, lo, hi;
};

inline bool same_width_unit_stride(const ConvShape& s, const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1 && s.OW == s.W;
}

inline ShiftedRow shifted_row(const ConvShape& s, const Conv2dParams& p, int64_t kh, int64_t kw) {
  ShiftedRow r{};
  const int64_t shift_h = kh * p.dilation_h - p.pad_h, shift_w = kw * p.dilation_w - p.pad_w;
  valid_out_range(s.OH, s.H, 1, shift_h, r.oh_lo, r.oh_hi);
  valid_out_range(s.OW, s.W, 1, shift_w, r.lo, r.hi);
  r.shift = shift_h * s.W + shift_w;
  r.begin = r.oh_lo * s.OW + r.lo;
  r.end = r.oh_hi > r.oh_lo && r.hi > r.lo ? (r.oh_hi - 1) * s.OW + r.hi : r.begin;
  return r;
}

// Writes rows [c*KH*KW, (c+1)*KH*KW) of the column block for input channel c of
// one sample: col[(c,kh,kw), oh*OW+ow] = x[c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] or 0.
// Rows have leading dimension ldcol.
template <class T>
void im2col_channel(const ConvShape& s, const Conv2dParams& p, const T* x_plane, int64_t c,
                    T* col, int64_t ldcol) {
  if (same_width_unit_stride(s, p)) {
    const int64_t ohw = s.OH * s.OW;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((c * s.KH + kh) * s.KW + kw) * ldcol;
        const ShiftedRow r = shifted_row(s, p, kh, kw);
        if (r.begin == r.end) {
          std::fill(row, row + ohw, T(0));
          continue;
        }
        std::fill(row, row + r.begin, T(0));
        const T* src = x_plane + (r.begin + r.shift);
        T* dst = row + r.begin;
        const int64_t n = r.end - r.begin;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
        std::fill(row + r.end, row + ohw, T(0));
        // the wrapped edge columns inside the copied span
        for (int64_t oh = r.oh_lo; oh < r.oh_hi; ++oh) {
          if (oh > r.oh_lo) zero_few(row + oh * s.OW, r.lo);
          if (oh + 1 < r.oh_hi) zero_few(row + oh * s.OW + r.hi, s.OW - r.hi);
        }
      }
    return;
  }
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
// that read each input position, (kh, kw) in order. Sequential inside the plane,
// so deterministic. On the same-width path the entries of col that read outside
// the plane are zeroed first (col is scratch), so each (kh, kw) row is one
// contiguous shifted add.
template <class T>
void col2im_channel(const ConvShape& s, const Conv2dParams& p, T* col, int64_t ldcol, int64_t c,
                    T* x_plane) {
  std::fill(x_plane, x_plane + s.H * s.W, T(0));
  if (same_width_unit_stride(s, p)) {
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((c * s.KH + kh) * s.KW + kw) * ldcol;
        const ShiftedRow r = shifted_row(s, p, kh, kw);
        if (r.begin == r.end) continue;
        for (int64_t oh = r.oh_lo; oh < r.oh_hi; ++oh) {
          if (oh > r.oh_lo) zero_few(row + oh * s.OW, r.lo);
          if (oh + 1 < r.oh_hi) zero_few(row + oh * s.OW + r.hi, s.OW - r.hi);
        }
        T* dst = x_plane + (r.begin + r.shift);
        const T* src = row + r.begin;
        const int64_t n = r.end - r.begin;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
      }
    return;
  }
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
