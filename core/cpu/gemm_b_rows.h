// How a GEMM micro-kernel finds row k of its B operand: at a fixed stride (packed
// slivers, or a row-major B read in place), or through a table of row offsets
// (the implicit 3x3 convolution, core/cpu/conv_implicit.h, whose rows are one
// padded plane seen at nine shifts).
#pragma once
#include <cstdint>

namespace basin::cpu {

template <class T>
struct StridedRows {
  const T* b;
  int64_t ld;
  const T* operator()(int64_t k) const { return b + k * ld; }
};

template <class T>
struct OffsetRows {
  const T* b;
  const int64_t* offsets;  // row k starts at b + offsets[k]
  const T* operator()(int64_t k) const { return b + offsets[k]; }
};

}  // namespace basin::cpu
