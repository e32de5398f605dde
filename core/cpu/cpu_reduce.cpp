// CPU reductions: sum and max along the middle of an [outer, n, inner] view,
// argmax and top-k per row, and the dot product. Sums accumulate in double
// and split work in fixed-size blocks, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

namespace basin::cpu {

namespace {

// Block size of the two-level sums: partial sums of fixed blocks, then the
// partials in order. Thread-count independent, hence deterministic.
constexpr int64_t kSumBlock = 8192;
// Column slice of the [outer, n, inner] reductions: one task's accumulators.
constexpr int64_t kInnerBlock = 1024;

template <class F>
double blocked_sum(int64_t n, F&& term) {
  if (n <= kSumBlock) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += term(i);
    return acc;
  }
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(n, (blk + 1) * kSumBlock);
    double acc = 0.0;
    for (int64_t i = blk * kSumBlock; i < end; ++i) acc += term(i);
    partial[blk] = acc;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

void check_reduce_shape(const Tensor& a, int64_t outer, int64_t n, int64_t inner,
                        const Tensor& out, const char* op) {
  check_contiguous(op, a, out);
  BASIN_CHECK(outer >= 0 && n >= 0 && inner >= 0, "cpu backend ", op, ": negative view [", outer,
              ", ", n, ", ", inner, "]");
  check_numel(a, outer * n * inner, op, "a");
  check_numel(out, outer * inner, op, "out");
  check_dtype(out, a.dtype(), op, "out");
}

}  // namespace

void CpuBackend::sum_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) {
  check_reduce_shape(a, outer, n, inner, out, "sum_dim");
  dispatch_floating(a.dtype(), "sum_dim", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    if (inner == 1 && outer < 4) {  // few long rows: split each row into blocks
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = x + o * n;
        y[o] = static_cast<T>(blocked_sum(n, [row](int64_t i) { return double(row[i]); }));
      }
      return;
    }
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * n >= kParallelGrain)
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = x + o * n;
        double acc = 0.0;
        for (int64_t k = 0; k < n; ++k) acc += row[k];
        y[o] = static_cast<T>(acc);
      }
      return;
    }
    // inner > 1: tasks are (outer block, slice of kInnerBlock columns); each
    // walks its n rows in order into a double accumulator, so the work splits
    // even when outer is 1 and the result never depends on the thread count.
    const int64_t blocks_per_outer = (inner + kInnerBlock - 1) / kInnerBlock;
    const int64_t tasks = outer * blocks_per_outer;
#pragma omp parallel for schedule(static) if (outer * n * inner >= kParallelGrain)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t o = task / blocks_per_outer;
      const int64_t i0 = (task % blocks_per_outer) * kInnerBlock;
      const int64_t len = std::min(kInnerBlock, inner - i0);
      double acc[kInnerBlock];
      for (int64_t i = 0; i < len; ++i) acc[i] = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        const T* src = x + (o * n + k) * inner + i0;
        for (int64_t i = 0; i < len; ++i) acc[i] += src[i];
      }
      for (int64_t i = 0; i < len; ++i) y[o * inner + i0 + i] = static_cast<T>(acc[i]);
    }
  });
}

void CpuBackend::max_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) {
  check_reduce_shape(a, outer, n, inner, out, "max_dim");
  BASIN_CHECK(n > 0 || outer * inner == 0, "cpu backend max_dim: empty reduction (n = 0)");
  dispatch_floating(a.dtype(), "max_dim", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    // Same (outer block, column slice) tasks as sum_dim, so outer = 1 still splits.
    const int64_t blocks_per_outer = (inner + kInnerBlock - 1) / kInnerBlock;
    const int64_t tasks = outer * blocks_per_outer;
#pragma omp parallel for schedule(static) if (outer * n * inner >= kParallelGrain)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t o = task / blocks_per_outer;
      const int64_t i0 = (task % blocks_per_outer) * kInnerBlock;
      const int64_t len = std::min(kInnerBlock, inner - i0);
      T* dst = y + o * inner + i0;
      const T* first = x + o * n * inner + i0;
      for (int64_t i = 0; i < len; ++i) dst[i] = first[i];
      for (int64_t k = 1; k < n; ++k) {
        const T* src = first + k * inner;
        // NaN wins, as in PyTorch: once dst is NaN no comparison replaces it.
        for (int64_t i = 0; i < len; ++i)
          if (src[i] > dst[i] || (src[i] != src[i] && dst[i] == dst[i])) dst[i] = src[i];
      }
    }
  });
}

void CpuBackend::argmax_rows(const Tensor& a, Tensor& out) {
  check_contiguous("argmax_rows", a, out);
  BASIN_CHECK(a.dim() == 2, "cpu backend argmax_rows: expected a 2-D tensor, got ", a.str());
  const int64_t rows = a.size(0), cols = a.size(1);
  BASIN_CHECK(cols > 0 || rows == 0, "cpu backend argmax_rows: rows of ", a.str(), " are empty");
  check_dtype(out, DType::I64, "argmax_rows", "out");
  check_numel(out, rows, "argmax_rows", "out");
  dispatch_floating(a.dtype(), "argmax_rows", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    int64_t* idx = out.data<int64_t>();
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * cols;
      int64_t best = 0;
      for (int64_t c = 1; c < cols; ++c) {
        if (row[best] != row[best]) break;  // a NaN is the maximum
        if (row[c] > row[best] || row[c] != row[c]) best = c;
      }
      idx[r] = best;
    }
  });
}

void CpuBackend::topk_rows(const Tensor& a, int64_t k, Tensor& values, Tensor& indices) {
  check_contiguous("topk_rows", a, values, indices);
  BASIN_CHECK(a.dim() == 2, "cpu backend topk_rows: expected a 2-D tensor, got ", a.str());
  const int64_t rows = a.size(0), cols = a.size(1);
  BASIN_CHECK(k >= 0 && k <= cols, "cpu backend topk_rows: k = ", k, " outside [0, ", cols,
              "] for ", a.str());
  check_dtype(values, a.dtype(), "topk_rows", "values");
  check_dtype(indices, DType::I64, "topk_rows", "indices");
  check_numel(values, rows * k, "topk_rows", "values");
  check_numel(indices, rows * k, "topk_rows", "indices");
  dispatch_floating(a.dtype(), "topk_rows", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* val = values.data<T>();
    int64_t* idx = indices.data<int64_t>();
#pragma omp parallel if (rows * cols >= kParallelGrain)
    {
      std::vector<int64_t> order(static_cast<size_t>(cols));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = x + r * cols;
        std::iota(order.begin(), order.end(), int64_t{0});
        // Strict weak order: larger value first, then lower index; NaN counts
        // as the largest value so the order stays well defined.
        auto before = [row](int64_t i, int64_t j) {
          const T vi = row[i], vj = row[j];
          const bool ni = vi != vi, nj = vj != vj;
          if (ni || nj) return ni && !nj ? true : (ni == nj ? i < j : false);
          if (vi != vj) return vi > vj;
          return i < j;
        };
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          idx[r * k + j] = order[j];
          val[r * k + j] = row[order[j]];
        }
      }
    }
  });
}

void CpuBackend::dot(const Tensor& a, const Tensor& b, Tensor& out) {
  check_contiguous("dot", a, b, out);
  check_dtype(b, a.dtype(), "dot", "b");
  check_dtype(out, a.dtype(), "dot", "out");
  check_numel(b, a.numel(), "dot", "b");
  check_numel(out, 1, "dot", "out");
  dispatch_floating(a.dtype(), "dot", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    const double total =
        blocked_sum(a.numel(), [x, y](int64_t i) { return double(x[i]) * double(y[i]); });
    *out.data<T>() = static_cast<T>(total);
  });
}

}  // namespace basin::cpu
