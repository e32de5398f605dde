// CPU convolution by im2col + gemm, or for 3x3 stride-1 pad-1 layers by an
// implicit gemm without a column buffer (core/cpu/conv_implicit.h). Samples are
// processed in groups whose columns are concatenated, so each gemm is wide
// enough to run at full speed even for small feature maps; the group size never
// depends on the thread count, which keeps every result (the weight gradient's
// batch sum included) bit-reproducible.
#include "core/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/conv_implicit.h"
#include "core/cpu/gemm.h"
#include "core/cpu/im2col.h"
#include "core/error.h"

namespace basin::cpu {

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  BASIN_CHECK(xs.size() == 4, "conv2d: input must be [N, C, H, W], got ", shape_str(xs));
  BASIN_CHECK(ws.size() == 4, "conv2d: weight must be [C_out, C_in, KH, KW], got ", shape_str(ws));
  BASIN_CHECK(xs[1] == ws[1], "conv2d: input has ", xs[1], " channels but weight ", shape_str(ws),
              " expects ", ws[1]);
  BASIN_CHECK(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 &&
                  p.pad_h >= 0 && p.pad_w >= 0,
              "conv2d: stride and dilation must be positive and padding non-negative, got stride ",
              p.stride_h, "x", p.stride_w, " dilation ", p.dilation_h, "x", p.dilation_w, " pad ",
              p.pad_h, "x", p.pad_w);
  ConvShape s{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], 0, 0};
  s.OH = window_out_size(s.H, static_cast<int>(s.KH), p.stride_h, p.pad_h, p.dilation_h);
  s.OW = window_out_size(s.W, static_cast<int>(s.KW), p.stride_w, p.pad_w, p.dilation_w);
  BASIN_CHECK(s.OH > 0 && s.OW > 0, "conv2d: kernel ", s.KH, "x", s.KW, " (dilation ",
              p.dilation_h, "x", p.dilation_w, ") does not fit input ", shape_str(xs),
              " with padding ", p.pad_h, "x", p.pad_w);
  return s;
}

namespace {

// Columns per gemm worth gathering samples for, and a cap on the column buffer.
constexpr int64_t kTargetColumns = 1024;
constexpr int64_t kMaxColumnElems = int64_t(1) << 22;

int64_t group_size(const ConvShape& s) {
  const int64_t ohw = s.OH * s.OW;
  const int64_t rows = s.C_in * s.KH * s.KW;
  int64_t g = std::max<int64_t>(1, (kTargetColumns + ohw - 1) / ohw);
  g = std::min<int64_t>(g, std::max<int64_t>(1, kMaxColumnElems / std::max<int64_t>(1, rows * ohw)));
  g = std::min<int64_t>(g, std::max<int64_t>(s.N, 1));
  // Even out the groups (64 samples in 56 + 8 would leave one thread idle).
  const int64_t groups = (s.N + g - 1) / g;
  return std::max<int64_t>(1, (s.N + groups - 1) / std::max<int64_t>(groups, 1));
}

bool is_pointwise(const ConvShape& s, const Conv2dParams& p) {
  return s.KH == 1 && s.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
         p.pad_w == 0;
}

// Grows and is kept per calling thread: no large allocation in steady state.
template <class T>
T* scratch(int slot, size_t n) {
  static thread_local std::vector<T> buffers[5];
  std::vector<T>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Unfolds samples [n0, n0+g) of x into col [C_in*KH*KW, g*OH*OW].
template <class T>
void im2col_group(const ConvShape& s, const Conv2dParams& p, const T* x, int64_t n0, int64_t g,
                  T* col) {
  const int64_t ohw = s.OH * s.OW, hw = s.H * s.W, ld = g * ohw;
  const int64_t tasks = g * s.C_in;
#pragma omp parallel for schedule(static) if (tasks > 1 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / s.C_in, c = t % s.C_in;
    const T* plane = x + ((n0 + i) * s.C_in + c) * hw;
    im2col_channel(s, p, plane, c, col + i * ohw, ld);
  }
}

// im2col_group, written straight into gemm's packed layout of B (L, for
// [C_in*KH*KW, g*OH*OW]): the gemm then skips its packing pass over the
// columns. Each (sample, channel) unfolds into a small per-thread block first,
// whose rows are copied out sliver by sliver.
template <class T>
void im2col_group_packed(const ConvShape& s, const Conv2dParams& p, const T* x, int64_t n0,
                         int64_t g, const PackedBLayout& L, T* packed) {
  const int64_t ohw = s.OH * s.OW, hw = s.H * s.W, taps = s.KH * s.KW;
  const int64_t tasks = g * s.C_in;
#pragma omp parallel for schedule(static) if (tasks > 1 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / s.C_in, c = t % s.C_in;
    T* block = scratch<T>(3, static_cast<size_t>(taps * ohw));
    im2col_channel(s, p, x + ((n0 + i) * s.C_in + c) * hw, 0, block, ohw);
    for (int64_t r = 0; r < taps; ++r) {
      const T* src = block + r * ohw - i * ohw;  // indexed by the group's column n
      const int64_t k = c * taps + r;
      for (int64_t n = i * ohw, end = (i + 1) * ohw; n < end;) {
        const int64_t stop = std::min(end, L.sliver_end(n));
        T* dst = packed + L.offset(k, n) - n;
        for (int64_t j = n; j < stop; ++j) dst[j] = src[j];
        n = stop;
      }
    }
  }
  // The last sliver's columns past N: zeros, so the kernel multiplies numbers.
  const int64_t N = g * ohw, used = N % L.nr;
  if (used != 0)
    for (int64_t k = 0; k < L.K; ++k) {
      T* pad = packed + L.offset(k, N - 1) + 1;
      for (int64_t j = used; j < L.nr; ++j) pad[j - used] = T(0);
    }
}

// Gathers samples [n0, n0+g) of a [N, rows, plane] tensor into [rows, g*plane].
template <class T>
void gather_group(int64_t rows, int64_t plane, int64_t n0, int64_t g, const T* tensor,
                  T* grouped) {
  const int64_t tasks = g * rows;
#pragma omp parallel for schedule(static) if (tasks * plane > 32768 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / rows, r = t % rows;
    std::memcpy(grouped + r * g * plane + i * plane, tensor + ((n0 + i) * rows + r) * plane,
                static_cast<size_t>(plane) * sizeof(T));
  }
}

// Samples [n0, n0+g) of the output gradient as one [C_out, g*OH*OW] matrix:
// gy itself for one sample, else gathered into scratch slot 1.
template <class T>
const T* grouped_gy(const ConvShape& s, int64_t n0, int64_t g, const T* gy) {
  const int64_t ohw = s.OH * s.OW;
  if (g == 1) return gy + n0 * s.C_out * ohw;
  T* buf = scratch<T>(1, static_cast<size_t>(s.C_out * g * ohw));
  gather_group<T>(s.C_out, ohw, n0, g, gy, buf);
  return buf;
}

// Inverse of gather_group, adding bias[row] on the way when bias is given.
template <class T>
void scatter_group(int64_t rows, int64_t plane, int64_t n0, int64_t g, const T* grouped,
                   const T* bias, T* tensor) {
  const int64_t tasks = g * rows;
#pragma omp parallel for schedule(static) if (tasks * plane > 32768 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / rows, r = t % rows;
    T* dst = tensor + ((n0 + i) * rows + r) * plane;
    const T* src = grouped + r * g * plane + i * plane;
    const T add = bias ? bias[r] : T(0);
    for (int64_t k = 0; k < plane; ++k) dst[k] = src[k] + add;
  }
}

template <class T>
void add_bias(const ConvShape& s, int64_t n0, int64_t g, const T* bias, T* y) {
  const int64_t ohw = s.OH * s.OW, tasks = g * s.C_out;
#pragma omp parallel for schedule(static) if (tasks * ohw > 32768 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const T add = bias[t % s.C_out];
    T* row = y + (n0 * s.C_out + t) * ohw;
    for (int64_t k = 0; k < ohw; ++k) row[k] += add;
  }
}

// Runs body(group_index, n0, g) for every group of samples. With enough groups
// they are spread over the threads, each running single-threaded gemms on its
// own scratch (one fork/join per call); otherwise groups run in order with the
// parallelism inside im2col and gemm. Either way each output is computed by the
// same arithmetic, so results do not depend on the thread count.
template <class F>
void for_each_group(const ConvShape& s, int64_t g_max, bool allow_across, F body) {
  const int64_t groups = (s.N + g_max - 1) / g_max;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool across =
      allow_across && threads > 1 && (groups >= 2 * threads || groups % threads == 0);
#pragma omp parallel for schedule(dynamic, 1) if (across)
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t n0 = gi * g_max;
    body(gi, n0, std::min(g_max, s.N - n0));
  }
}

// Partial weight gradients of all groups are kept (and summed afterwards) when
// they fit in this many elements; otherwise groups run in order.
constexpr int64_t kMaxPartialElems = int64_t(1) << 23;

// Where row (c, kh, kw) of the im2col matrix starts in the padded lines of
// `channels` channels: the GEMM's row-offset table (per calling thread).
const int64_t* tap_offsets(const PaddedGrid& G, int64_t channels) {
  int64_t* offsets = scratch<int64_t>(0, static_cast<size_t>(channels * 9));
  for (int64_t k = 0; k < channels * 9; ++k) offsets[k] = G.tap_offset(k / 9, k % 9);
  return offsets;
}

// One 3x3 stride-1 convolution of a group of samples by the implicit GEMM
// (core/cpu/conv_implicit.h): out[C_out', positions] = a[C_out', C_in'*9] * the
// nine shifted views of the padded input lines, then the real positions are
// written to y. a is the weight matrix (forward) or the flipped transposed one
// (backward-input, where x is the output gradient).
template <class T>
void implicit_3x3_group(int64_t c_in, int64_t c_out, int64_t H, int64_t W, const T* a,
                        const T* x, int64_t n0, int64_t g, const T* bias, T* y) {
  const PaddedGrid G(H, W, g, gemm_b_tile_columns<T>());
  T* lines = scratch<T>(0, static_cast<size_t>(c_in * G.ld));
  fill_padded(G, c_in, n0, g, x, lines);
  const int64_t K = c_in * 9;
  T* out = scratch<T>(1, static_cast<size_t>(c_out * G.N));
  gemm_offset_rows_b<T>(false, c_out, G.N, K, a, K, lines, tap_offsets(G, c_in), out, G.N);
  extract_padded(G, c_out, n0, g, out, bias, y);
}

// The weight gradient of one group by the implicit GEMM: gw = gy * (the nine
// shifted views of x)^T, both in the padded layout, where gy's zero pad
// positions drop the outputs that are not real. gw is [C_out, C_in*9].
template <class T>
void implicit_3x3_weight_group(const ConvShape& s, const T* gy, const T* x, int64_t n0, int64_t g,
                               T* gw) {
  const PaddedGrid G(s.H, s.W, g, gemm_b_tile_columns<T>());
  T* lines = scratch<T>(0, static_cast<size_t>(s.C_in * G.ld));
  fill_padded(G, s.C_in, n0, g, x, lines);
  T* gy_lines = scratch<T>(1, static_cast<size_t>(s.C_out * G.ld));
  fill_padded(G, s.C_out, n0, g, gy, gy_lines);
  const int64_t rows = s.C_in * 9;
  gemm_offset_rows_b<T>(true, s.C_out, rows, G.N, gy_lines + G.front, G.ld, lines,
                        tap_offsets(G, s.C_in), gw, rows);
}

}  // namespace

template <class T>
void conv2d_forward(const ConvShape& s, const Conv2dParams& p, const T* x, const T* w,
                    const T* bias, T* y) {
  if (s.N <= 0) return;
  if (implicit_3x3_suits(s, p)) {
    for_each_group(s, group_size(s), true, [&](int64_t, int64_t n0, int64_t g) {
      implicit_3x3_group(s.C_in, s.C_out, s.H, s.W, w, x, n0, g, bias, y);
    });
    return;
  }
  const int64_t ohw = s.OH * s.OW, rows = s.C_in * s.KH * s.KW;
  const bool pointwise = is_pointwise(s, p);
  for_each_group(s, group_size(s), true, [&](int64_t, int64_t n0, int64_t g) {
    const int64_t cols = g * ohw;
    const T* col = x + n0 * s.C_in * ohw;  // pointwise, one sample: x itself is the column matrix
    // Where the gemm would pack the columns, im2col writes them packed.
    const bool packed = !(pointwise && g == 1) && s.C_out > kGemmDirectBRows;
    const PackedBLayout layout = packed_b_layout<T>(rows, cols);
    if (packed) {
      T* buf = scratch<T>(0, static_cast<size_t>(layout.size()));
      im2col_group_packed(s, p, x, n0, g, layout, buf);
      col = buf;
    } else if (!(pointwise && g == 1)) {
      T* buf = scratch<T>(0, static_cast<size_t>(rows * cols));
      im2col_group(s, p, x, n0, g, buf);
      col = buf;
    }
    const auto multiply = [&](T* out) {
      if (packed)
        gemm_packed_b<T>(s.C_out, cols, rows, T(1), w, rows, col, T(0), out, cols);
      else
        gemm<T>(false, false, s.C_out, cols, rows, T(1), w, rows, col, cols, T(0), out, cols);
    };
    if (g == 1) {
      multiply(y + n0 * s.C_out * ohw);
      if (bias) add_bias(s, n0, 1, bias, y);
    } else {
      T* out = scratch<T>(1, static_cast<size_t>(s.C_out * cols));
      multiply(out);
      scatter_group<T>(s.C_out, ohw, n0, g, out, bias, y);
    }
  });
}

template <class T>
void conv2d_backward_input(const ConvShape& s, const Conv2dParams& p, const T* gy, const T* w,
                           T* gx) {
  if (s.N <= 0) return;
  const int64_t ohw = s.OH * s.OW, hw = s.H * s.W, rows = s.C_in * s.KH * s.KW;
  if (implicit_3x3_suits(s, p)) {
    // gx = conv(gy, w'), w'[c, co, t] = w[co, c, 8 - t]: the adjoint of a
    // centred 3x3 correlation is the correlation with the flipped kernel.
    T* wt = scratch<T>(4, static_cast<size_t>(s.C_in * s.C_out * 9));
    for (int64_t c = 0; c < s.C_in; ++c)
      for (int64_t co = 0; co < s.C_out; ++co)
        for (int64_t t = 0; t < 9; ++t)
          wt[(c * s.C_out + co) * 9 + t] = w[(co * s.C_in + c) * 9 + 8 - t];
    for_each_group(s, group_size(s), true, [&](int64_t, int64_t n0, int64_t g) {
      implicit_3x3_group<T>(s.C_out, s.C_in, s.H, s.W, wt, gy, n0, g, nullptr, gx);
    });
    return;
  }
  const bool pointwise = is_pointwise(s, p);
  for_each_group(s, group_size(s), true, [&](int64_t, int64_t n0, int64_t g) {
    const int64_t cols = g * ohw;
    const T* gyg = grouped_gy(s, n0, g, gy);
    if (pointwise && g == 1) {
      gemm<T>(true, false, rows, cols, s.C_out, T(1), w, rows, gyg, cols, T(0),
              gx + n0 * s.C_in * hw, cols);
      return;
    }
    T* gcol = scratch<T>(0, static_cast<size_t>(rows * cols));
    gemm<T>(true, false, rows, cols, s.C_out, T(1), w, rows, gyg, cols, T(0), gcol, cols);
    if (pointwise) {
      scatter_group<T>(s.C_in, hw, n0, g, gcol, nullptr, gx);
      return;
    }
    const int64_t tasks = g * s.C_in;
#pragma omp parallel for schedule(static) if (tasks > 1 && !omp_in_parallel())
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t i = t / s.C_in, c = t % s.C_in;
      col2im_channel(s, p, gcol + i * ohw, cols, c, gx + ((n0 + i) * s.C_in + c) * hw);
    }
  });
}

template <class T>
void conv2d_backward_weight(const ConvShape& s, const Conv2dParams& p, const T* gy, const T* x,
                            T* gw) {
  const int64_t ohw = s.OH * s.OW, rows = s.C_in * s.KH * s.KW, wsize = rows * s.C_out;
  if (s.N <= 0) {
    std::fill(gw, gw + wsize, T(0));
    return;
  }
  const bool pointwise = is_pointwise(s, p);
  const int64_t g_max = group_size(s), groups = (s.N + g_max - 1) / g_max;
  // Each group's gw = gy_group [C_out, cols] * col_group^T: C_out (a multiple
  // of 8) and rows (C_in*KH*KW, for 3x3 a multiple of 48 when C_in is one of 16)
  // fill the micro-kernel's 8 x 48 tiles, where gw^T = col * gy^T wasted two
  // thirds of each tile on 16 channels. The partials are summed in group order,
  // p0 + p1 + p2 + ..., whether they are all kept and reduced at the end or
  // folded into a running sum: same bits either way.
  const bool keep_partials = groups * wsize <= kMaxPartialElems;
  T* partials = scratch<T>(2, static_cast<size_t>((keep_partials ? groups : 2) * wsize));
  const bool implicit = implicit_3x3_suits(s, p);
  for_each_group(s, g_max, keep_partials, [&](int64_t gi, int64_t n0, int64_t g) {
    T* out = keep_partials ? partials + gi * wsize : partials + (gi == 0 ? 0 : wsize);
    if (implicit) {
      implicit_3x3_weight_group(s, gy, x, n0, g, out);
    } else {
      const int64_t cols = g * ohw;
      const T* gyg = grouped_gy(s, n0, g, gy);
      const T* col = x + n0 * s.C_in * ohw;
      if (!(pointwise && g == 1)) {
        T* buf = scratch<T>(0, static_cast<size_t>(rows * cols));
        im2col_group(s, p, x, n0, g, buf);
        col = buf;
      }
      gemm<T>(false, true, s.C_out, rows, cols, T(1), gyg, cols, col, cols, T(0), out, rows);
    }
    if (!keep_partials && gi > 0)
      for (int64_t i = 0; i < wsize; ++i) partials[i] += out[i];
  });
  const int64_t summed = keep_partials ? groups : 1;
#pragma omp parallel for schedule(static) if (wsize * summed > 65536 && !omp_in_parallel())
  for (int64_t co = 0; co < s.C_out; ++co)
    for (int64_t r = co * rows; r < (co + 1) * rows; ++r) {
      T sum = partials[r];
      for (int64_t gi = 1; gi < summed; ++gi) sum += partials[gi * wsize + r];
      gw[r] = sum;
    }
}

#define BASIN_CONV_INSTANTIATE(T)                                                              \
  template void conv2d_forward<T>(const ConvShape&, const Conv2dParams&, const T*, const T*,   \
                                  const T*, T*);                                               \
  template void conv2d_backward_input<T>(const ConvShape&, const Conv2dParams&, const T*,      \
                                         const T*, T*);                                        \
  template void conv2d_backward_weight<T>(const ConvShape&, const Conv2dParams&, const T*,     \
                                          const T*, T*);
BASIN_CONV_INSTANTIATE(float)
BASIN_CONV_INSTANTIATE(double)
#undef BASIN_CONV_INSTANTIATE

}  // namespace basin::cpu
