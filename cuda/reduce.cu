// Reductions: sum_dim / max_dim over the middle axis of [outer, n, inner],
// dot (two-stage), argmax and top-k over rows. Every reduction has a fixed
// order that depends only on the shape — no atomics — so a result is the same
// bits run after run. Float sums accumulate in double, as the CPU reference does.
#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/block_reduce.cuh"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

constexpr int kReduceThreads = kBlockThreads;

template <class T> struct AccOf { using type = T; };
template <> struct AccOf<float> { using type = double; };
template <> struct AccOf<int32_t> { using type = int64_t; };

struct MaxOp {  // as the CPU reference: the larger wins, and a NaN wins (propagates)
  template <class A> __device__ A operator()(A x, A y) const {
    return (y > x || (y != y && x == x)) ? y : x;
  }
};

// inner == 1: blockIdx.y = chunk of the row, blockIdx.x (grid-stride) = row.
// Each (row, chunk) writes one partial; with one chunk the partial is the result.
template <class T, class Acc, class Op>
__global__ void reduce_rows_kernel(const T* a, int64_t rows, int64_t n, int64_t chunk, Acc* partial,
                                   T* out, Op op, bool is_max) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t begin = blockIdx.y * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    const T* row = a + r * n;
    bool have = false;
    Acc acc = Acc(0);
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const Acc v = static_cast<Acc>(row[k]);
      acc = have ? op(acc, v) : v;
      have = true;
    }
    // Threads that saw nothing contribute the row's first element for max (neutral for it), 0 for sum.
    if (!have) acc = is_max ? static_cast<Acc>(row[begin < n ? begin : 0]) : Acc(0);
    acc = block_reduce<Acc>(acc, op);
    if (threadIdx.x == 0) {
      if (gridDim.y == 1) out[r] = static_cast<T>(acc);
      else partial[r * gridDim.y + blockIdx.y] = acc;
    }
  }
}

template <class T, class Acc, class Op>
__global__ void reduce_partials_kernel(const Acc* partial, int64_t rows, int chunks, T* out, Op op) {
  BASIN_GRID_STRIDE(r, rows) {
    Acc acc = partial[r * chunks];
    for (int c = 1; c < chunks; ++c) acc = op(acc, partial[r * chunks + c]);
    out[r] = static_cast<T>(acc);
  }
}

// inner > 1: one thread per (o, i), walking k in order (coalesced across i).
template <class T, class Acc, class Op>
__global__ void reduce_middle_kernel(const T* a, int64_t outer, int64_t n, int64_t inner, T* out, Op op) {
  BASIN_GRID_STRIDE(j, outer * inner) {
    const int64_t o = j / inner, i = j % inner;
    const T* p = a + o * n * inner + i;
    Acc acc = static_cast<Acc>(p[0]);
    for (int64_t k = 1; k < n; ++k) acc = op(acc, static_cast<Acc>(p[k * inner]));
    out[j] = static_cast<T>(acc);
  }
}

template <class T, class Op>
void launch_reduce(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out, Op op,
                   bool is_max, const char* name) {
  using Acc = typename AccOf<T>::type;
  const int64_t rows = outer * inner;
  if (rows == 0) return;
  if (n == 0) {
    BASIN_CHECK(!is_max, "cuda ", name, ": reduction over an empty dimension");
    Tensor o = out;
    backend_for(out.device()).fill(o, 0.0);
    return;
  }
  if (inner == 1) {
    // Split long rows so a handful of rows still fill the GPU; the split depends
    // only on the shape, so the summation order is fixed.
    int chunks = 1;
    if (outer < 128 && n >= 8192) {
      const int64_t want = (n + 4095) / 4096;
      chunks = static_cast<int>(want < 512 ? want : 512);
    }
    const int64_t chunk = (n + chunks - 1) / chunks;
    const dim3 grid(static_cast<unsigned>(outer < 65535 ? outer : 65535), chunks);
    if (chunks == 1) {
      reduce_rows_kernel<T, Acc, Op><<<grid, kReduceThreads, 0, stream()>>>(
          data_ptr<T>(a), outer, n, chunk, nullptr, data_ptr<T>(out), op, is_max);
      check_launch(name);
    } else {
      DeviceBuffer partial(sizeof(Acc) * outer * chunks);
      reduce_rows_kernel<T, Acc, Op><<<grid, kReduceThreads, 0, stream()>>>(
          data_ptr<T>(a), outer, n, chunk, partial.as<Acc>(), data_ptr<T>(out), op, is_max);
      check_launch(name);
      reduce_partials_kernel<T, Acc, Op><<<grid_for(outer), kThreads, 0, stream()>>>(
          partial.as<Acc>(), outer, chunks, data_ptr<T>(out), op);
      check_launch(name);
    }
  } else {
    reduce_middle_kernel<T, Acc, Op><<<grid_for(rows), kThreads, 0, stream()>>>(
        data_ptr<T>(a), outer, n, inner, data_ptr<T>(out), op);
    check_launch(name);
  }
}

template <class Op>
void dispatch_reduce(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out, Op op,
                     bool is_max, const char* name) {
  BASIN_CHECK(a.dtype() == out.dtype(), "cuda ", name, ": dtype ", a.str(), " vs ", out.str());
  switch (a.dtype()) {
    case DType::F32: launch_reduce<float>(a, outer, n, inner, out, op, is_max, name); break;
    case DType::I32: launch_reduce<int32_t>(a, outer, n, inner, out, op, is_max, name); break;
    case DType::I64: launch_reduce<int64_t>(a, outer, n, inner, out, op, is_max, name); break;
    default: require_f32(a, name);
  }
}

// dot, stage 1: a fixed number of blocks (a function of n only) each reduce a
// grid-strided share into one double partial.
__global__ void dot_partial_kernel(const float* a, const float* b, int64_t n, double* partial) {
  double acc = 0.0;
  BASIN_GRID_STRIDE(i, n) { acc += static_cast<double>(a[i]) * static_cast<double>(b[i]); }
  acc = block_reduce<double>(acc, SumOp{});
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void dot_final_kernel(const double* partial, int count, float* out) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_reduce<double>(acc, SumOp{});
  if (threadIdx.x == 0) *out = static_cast<float>(acc);
}

struct ArgBest {
  float v;
  int64_t i;  // -1: nothing seen
};
// The CPU reference's strict order: larger value first, then lower index; a
// NaN counts as larger than every number.
__device__ __forceinline__ bool ranks_before(ArgBest a, ArgBest b) {
  const bool na = a.v != a.v, nb = b.v != b.v;
  if (na || nb) return na && !nb ? true : (na == nb ? a.i < b.i : false);
  if (a.v != b.v) return a.v > b.v;
  return a.i < b.i;
}
__device__ __forceinline__ ArgBest better(ArgBest x, ArgBest y) {
  if (y.i < 0) return x;
  if (x.i < 0) return y;
  return ranks_before(y, x) ? y : x;
}
struct BetterOp {
  __device__ ArgBest operator()(ArgBest x, ArgBest y) const { return better(x, y); }
};

__global__ void argmax_rows_kernel(const float* a, int64_t rows, int64_t cols, int64_t* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = a + r * cols;
    ArgBest best{0.0f, -1};
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) best = better(best, ArgBest{row[c], c});
    best = block_reduce<ArgBest>(best, BetterOp{});
    if (threadIdx.x == 0) out[r] = best.i < 0 ? 0 : best.i;
  }
}

// k rounds of a block-wide argmax; round j only considers elements ranked after
// round j-1's pick in the order (value descending, index ascending).
__global__ void topk_rows_kernel(const float* a, int64_t rows, int64_t cols, int64_t k,
                                 float* values, int64_t* indices) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = a + r * cols;
    ArgBest prev{0.0f, -1};
    for (int64_t j = 0; j < k; ++j) {
      ArgBest best{0.0f, -1};
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const ArgBest cand{row[c], c};
        if (prev.i < 0 || ranks_before(prev, cand)) best = better(best, cand);
      }
      best = block_reduce<ArgBest>(best, BetterOp{});
      if (threadIdx.x == 0) {
        values[r * k + j] = best.i < 0 ? row[0] : best.v;
        indices[r * k + j] = best.i < 0 ? 0 : best.i;
      }
      prev = best;
    }
  }
}

unsigned row_grid(int64_t rows) { return static_cast<unsigned>(rows < 65535 ? rows : 65535); }

}  // namespace

void CudaBackend::sum_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) {
  dispatch_reduce(a, outer, n, inner, out, SumOp{}, false, "sum_dim");
}

void CudaBackend::max_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) {
  dispatch_reduce(a, outer, n, inner, out, MaxOp{}, true, "max_dim");
}

void CudaBackend::dot(const Tensor& a, const Tensor& b, Tensor& out) {
  require_f32(a, "dot");
  require_f32(b, "dot");
  require_f32(out, "dot");
  const int64_t n = a.numel();
  int64_t blocks = (n + kReduceThreads * 8 - 1) / (kReduceThreads * 8);
  if (blocks < 1) blocks = 1;
  if (blocks > 1024) blocks = 1024;
  DeviceBuffer partial(sizeof(double) * blocks);
  dot_partial_kernel<<<static_cast<unsigned>(blocks), kReduceThreads, 0, stream()>>>(
      data_ptr<float>(a), data_ptr<float>(b), n, partial.as<double>());
  check_launch("dot_partial_kernel");
  dot_final_kernel<<<1, kReduceThreads, 0, stream()>>>(partial.as<double>(), static_cast<int>(blocks),
                                                       data_ptr<float>(out));
  check_launch("dot_final_kernel");
}

void CudaBackend::argmax_rows(const Tensor& a, Tensor& out) {
  require_f32(a, "argmax");
  BASIN_CHECK(out.dtype() == DType::I64, "cuda argmax: output must be i64, got ", out.str());
  const int64_t rows = a.shape()[0], cols = a.numel() / (rows == 0 ? 1 : rows);
  if (rows == 0) return;
  BASIN_CHECK(cols > 0, "cuda argmax: rows of ", a.str(), " are empty");
  argmax_rows_kernel<<<row_grid(rows), kReduceThreads, 0, stream()>>>(data_ptr<float>(a), rows, cols,
                                                                      data_ptr<int64_t>(out));
  check_launch("argmax_rows_kernel");
}

void CudaBackend::topk_rows(const Tensor& a, int64_t k, Tensor& values, Tensor& indices) {
  require_f32(a, "topk");
  require_f32(values, "topk");
  BASIN_CHECK(indices.dtype() == DType::I64, "cuda topk: indices must be i64, got ", indices.str());
  const int64_t rows = a.shape()[0], cols = a.numel() / (rows == 0 ? 1 : rows);
  if (rows == 0 || k == 0) return;
  BASIN_CHECK(k <= cols, "cuda topk: k = ", k, " exceeds the row length ", cols, " of ", a.str());
  topk_rows_kernel<<<row_grid(rows), kReduceThreads, 0, stream()>>>(
      data_ptr<float>(a), rows, cols, k, data_ptr<float>(values), data_ptr<int64_t>(indices));
  check_launch("topk_rows_kernel");
}

}  // namespace basin::cuda
