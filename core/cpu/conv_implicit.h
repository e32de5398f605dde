// Implicit GEMM for 3x3, stride-1, pad-1 convolutions (the ResNets' main layers):
// no column buffer. A group of samples is copied once into a zero-padded layout
// where every channel is one line: rows of W+1 (the one pad column is the right
// pad of a row and the left pad of the next) and planes of H+1 rows (one shared
// pad row between samples). In that layout, tap (kh, kw) of every output
// position n reads position n + (kh-1)(W+1) + (kw-1): the nine rows of the
// im2col matrix for a channel are the same line at nine offsets, which the GEMM
// reads in place through a row-offset table (gemm_offset_rows_b). The GEMM
// computes outputs at the pad positions too, (H+1)(W+1)/(HW) of the work:
// 6% at 32x32, 27% at 8x8. The backward-input pass is the same convolution of
// the padded gradient with the flipped, transposed weights.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/backend.h"
#include "core/cpu/conv.h"

namespace basin::cpu {

inline bool implicit_3x3_suits(const ConvShape& s, const Conv2dParams& p) {
  return s.KH == 3 && s.KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 1 &&
         p.pad_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 && s.H * s.W >= 64;
}

// Geometry of one group of g samples in the padded layout.
struct PaddedGrid {
  int64_t H, W;
  int64_t R;      // row stride, W + 1
  int64_t S;      // sample stride, (H + 1) * R; sample i's row 0 is its top pad row
  int64_t N;      // positions computed (the GEMM's columns), g * S
  int64_t front;  // zeros before sample 0, enough for the most negative offset
  int64_t ld;     // length of a channel's line, up to the last column the GEMM reads

  PaddedGrid(int64_t h, int64_t w, int64_t g, int64_t tile_columns)
      : H(h), W(w), R(w + 1), S((h + 1) * (w + 1)), N(g * (h + 1) * (w + 1)) {
    front = (R + 1 + 15) / 16 * 16;
    const int64_t read_end = front + (N + tile_columns - 1) / tile_columns * tile_columns + R + 1;
    ld = (read_end + 15) / 16 * 16;
  }
  // Position of pixel (h, w) of sample i, relative to the start of the GEMM's columns.
  int64_t at(int64_t i, int64_t h, int64_t w) const { return i * S + (h + 1) * R + w; }
  // Offset of tap t = kh*3 + kw of channel c's line, from the line block's start.
  int64_t tap_offset(int64_t c, int64_t t) const {
    return c * ld + front + (t / 3 - 1) * R + (t % 3 - 1);
  }
};

// Copies samples [n0, n0+g) of a [N, C, H, W] tensor into C padded lines
// (every pad and margin position written as zero).
template <class T>
void fill_padded(const PaddedGrid& G, int64_t C, int64_t n0, int64_t g, const T* src, T* lines) {
  const int64_t hw = G.H * G.W;
#pragma omp parallel for schedule(static) if (C > 1 && C * g * hw > 32768 && !omp_in_parallel())
  for (int64_t c = 0; c < C; ++c) {
    T* line = lines + c * G.ld;
    std::fill(line, line + G.front, T(0));
    T* base = line + G.front;
    for (int64_t i = 0; i < g; ++i) {
      const T* plane = src + ((n0 + i) * C + c) * hw;
      T* sample = base + i * G.S;
      std::fill(sample, sample + G.R, T(0));  // the top pad row
      for (int64_t h = 0; h < G.H; ++h) {
        T* row = sample + (h + 1) * G.R;
        const T* in = plane + h * G.W;
#pragma omp simd
        for (int64_t w = 0; w < G.W; ++w) row[w] = in[w];
        row[G.W] = T(0);
      }
    }
    std::fill(base + G.N, line + G.ld, T(0));  // the last bottom pad row and the margin
  }
}

// The inverse for the GEMM's output [C, N]: writes the real positions of
// samples [n0, n0+g) into a [N, C, H, W] tensor, adding bias[c] when given.
template <class T>
void extract_padded(const PaddedGrid& G, int64_t C, int64_t n0, int64_t g, const T* out,
                    const T* bias, T* dst) {
  const int64_t hw = G.H * G.W, tasks = g * C;
#pragma omp parallel for schedule(static) if (tasks > 1 && tasks * hw > 32768 && !omp_in_parallel())
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / C, c = t % C;
    const T add = bias ? bias[c] : T(0);
    const T* src = out + c * G.N;
    T* plane = dst + ((n0 + i) * C + c) * hw;
    for (int64_t h = 0; h < G.H; ++h) {
      const T* row = src + G.at(i, h, 0);
      T* o = plane + h * G.W;
#pragma omp simd
      for (int64_t w = 0; w < G.W; ++w) o[w] = row[w] + add;
    }
  }
}

}  // namespace basin::cpu
