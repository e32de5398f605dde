// Helpers shared by the CPU backend's kernel files: turning a runtime DType
// into a C++ element type, and walking arbitrarily strided operands row by
// row after collapsing the dimensions that are laid out back to back.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace basin::cpu {

// Below this many elements an OpenMP fork/join costs more than it saves.
constexpr int64_t kParallelGrain = 32768;

// f(T{}) with T = float or double; any other dtype is an Error naming the op.
template <class F>
void dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    default:
      fail(cat("cpu backend ", op, ": dtype ", dtype_name(dtype),
               " is not supported (expected f32 or f64)"));
  }
}

// f(T{}) for every dtype a tensor can hold.
template <class F>
void dispatch_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::I32: f(int32_t{}); return;
    case DType::I64: f(int64_t{}); return;
    case DType::U8: f(uint8_t{}); return;
  }
  fail(cat("cpu backend ", op, ": unknown dtype code ", static_cast<int>(dtype)));
}

inline void check_dtype(const Tensor& t, DType want, const char* op, const char* operand) {
  BASIN_CHECK(t.dtype() == want, "cpu backend ", op, ": ", operand, " has dtype ",
              dtype_name(t.dtype()), ", expected ", dtype_name(want));
}

inline void check_numel(const Tensor& t, int64_t want, const char* op, const char* operand) {
  BASIN_CHECK(t.numel() == want, "cpu backend ", op, ": ", operand, " ", t.str(), " has ",
              t.numel(), " elements, expected ", want);
}

// Kernels read raw contiguous memory (offset allowed); a strided view handed
// to one would be a silent wrong answer, so it is an Error instead.
inline void check_one_contiguous(const char* op, const Tensor& t) {
  BASIN_CHECK(!t.defined() || t.is_contiguous(), "cpu backend ", op, ": operand ", t.str(),
              " with strides ", shape_str(t.strides()), " must be contiguous");
}
template <class... Tensors>
void check_contiguous(const char* op, const Tensors&... tensors) {
  (check_one_contiguous(op, tensors), ...);
}

// K operands sharing one shape but each with its own strides, reduced to
// `rows` rows of `len` elements: row r of operand k starts at row_start(r)[k]
// (element offsets relative to the operand's first element) and steps by step[k].
template <int K>
struct RowPlan {
  std::vector<int64_t> outer_sizes;                  // collapsed dims before the last
  std::array<std::vector<int64_t>, K> outer_strides;
  int64_t rows = 1, len = 1;
  std::array<int64_t, K> step{};

  std::array<int64_t, K> row_start(int64_t row) const {
    std::array<int64_t, K> start{};
    for (int64_t d = static_cast<int64_t>(outer_sizes.size()) - 1; d >= 0; --d) {
      const int64_t i = row % outer_sizes[d];
      row /= outer_sizes[d];
      for (int k = 0; k < K; ++k) start[k] += i * outer_strides[k][d];
    }
    return start;
  }
};

template <int K>
RowPlan<K> plan_rows(const Shape& shape, const std::array<const Shape*, K>& strides) {
  // Collapse from the innermost dim outwards; size-1 dims vanish.
  std::vector<int64_t> sizes;                    // innermost first
  std::array<std::vector<int64_t>, K> st;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool mergeable = !sizes.empty();
    for (int k = 0; k < K && mergeable; ++k)
      mergeable = (*strides[k])[d] == st[k].back() * sizes.back();
    if (mergeable) {
      sizes.back() *= shape[d];
    } else {
      sizes.push_back(shape[d]);
      for (int k = 0; k < K; ++k) st[k].push_back((*strides[k])[d]);
    }
  }
  RowPlan<K> plan;
  if (sizes.empty()) return plan;  // one element
  plan.len = sizes[0];
  for (int k = 0; k < K; ++k) plan.step[k] = st[k][0];
  for (size_t i = sizes.size(); i-- > 1;) {  // outermost first
    plan.outer_sizes.push_back(sizes[i]);
    plan.rows *= sizes[i];
    for (int k = 0; k < K; ++k) plan.outer_strides[k].push_back(st[k][i]);
  }
  return plan;
}

// fn(row_start, len, step) for every row, in parallel when the work is large.
// fn must not throw.
template <int K, class F>
void for_each_row(const RowPlan<K>& plan, F&& fn) {
  const int64_t rows = plan.rows;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * plan.len >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) fn(plan.row_start(r), plan.len, plan.step);
}

}  // namespace basin::cpu
