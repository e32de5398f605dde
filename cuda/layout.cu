// Layout kernels: fill, strided copy, dtype cast and the row gather/scatter of
// index_select / index_add. Copies move raw element bits (templated on the
// element size only), so every dtype shares three kernel instantiations.
#include <type_traits>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

template <class Word>
__global__ void fill_kernel(Word* out, StridedView v, int64_t n, Word value, bool contiguous) {
  BASIN_GRID_STRIDE(i, n) { out[contiguous ? i : strided_offset(v, i)] = value; }
}

template <class T>
void launch_fill(Tensor& out, T value) {
  const int64_t n = out.numel();
  const bool contiguous = out.is_contiguous();
  const StridedView v = contiguous ? StridedView{} : strided_view(out, "fill");
  fill_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<T>(out), v, n, value, contiguous);
  check_launch("fill_kernel");
}

template <class Word>
__global__ void copy_strided_kernel(const Word* src, StridedView sv, Word* dst, StridedView dv,
                                    int64_t n) {
  BASIN_GRID_STRIDE(i, n) { dst[strided_offset(dv, i)] = src[strided_offset(sv, i)]; }
}

template <class Word>
void launch_copy_strided(const Tensor& src, Tensor& dst) {
  const int64_t n = dst.numel();
  copy_strided_kernel<Word><<<grid_for(n), kThreads, 0, stream()>>>(
      static_cast<const Word*>(src.raw_data()), strided_view(src, "copy_strided"),
      static_cast<Word*>(dst.raw_data()), strided_view(dst, "copy_strided"), n);
  check_launch("copy_strided_kernel");
}

// Floating -> integral goes through int64 (negative values wrap for u8), as on the CPU.
template <class D, class S>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_floating_point<S>::value && std::is_integral<D>::value) {
    return static_cast<D>(static_cast<int64_t>(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class S, class D>
__global__ void cast_kernel(const S* src, D* dst, int64_t n) {
  BASIN_GRID_STRIDE(i, n) { dst[i] = convert<D, S>(src[i]); }
}

template <class S>
void launch_cast_from(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  const S* s = data_ptr<S>(src);
  const unsigned grid = grid_for(n);
  switch (dst.dtype()) {
    case DType::F32: cast_kernel<S, float><<<grid, kThreads, 0, stream()>>>(s, data_ptr<float>(dst), n); break;
    case DType::F64: cast_kernel<S, double><<<grid, kThreads, 0, stream()>>>(s, data_ptr<double>(dst), n); break;
    case DType::I32: cast_kernel<S, int32_t><<<grid, kThreads, 0, stream()>>>(s, data_ptr<int32_t>(dst), n); break;
    case DType::I64: cast_kernel<S, int64_t><<<grid, kThreads, 0, stream()>>>(s, data_ptr<int64_t>(dst), n); break;
    case DType::U8: cast_kernel<S, uint8_t><<<grid, kThreads, 0, stream()>>>(s, data_ptr<uint8_t>(dst), n); break;
  }
  check_launch("cast_kernel");
}

// One thread per output element; a bad index is reported through the error word.
template <class Word>
__global__ void index_select_kernel(const Word* a, int64_t a_rows, const int64_t* idx,
                                    int64_t n_idx, int64_t row, Word* out, KernelErrorWord* err) {
  BASIN_GRID_STRIDE(i, n_idx * row) {
    const int64_t r = i / row, c = i % row;
    const int64_t src_row = idx[r];
    if (src_row < 0 || src_row >= a_rows) {
      if (atomicCAS(&err->code, 0ull, (unsigned long long)kIndexSelectOutOfRange) == 0ull) {
        err->value = src_row;
        err->bound = a_rows;
      }
      out[i] = Word(0);
      continue;
    }
    out[i] = a[src_row * row + c];
  }
}

template <class Word>
void launch_index_select(const Tensor& a, const Tensor& idx, Tensor& out) {
  const int64_t n_idx = idx.numel();
  const int64_t row = a.dim() == 0 || a.shape()[0] == 0 ? 0 : a.numel() / a.shape()[0];
  if (n_idx * row == 0) return;
  index_select_kernel<Word><<<grid_for(n_idx * row), kThreads, 0, stream()>>>(
      static_cast<const Word*>(a.raw_data()), a.shape()[0], data_ptr<int64_t>(idx), n_idx, row,
      static_cast<Word*>(out.raw_data()), context().error_word);
  check_launch("index_select_kernel");
}

// Deterministic scatter-add without atomics: the thread of the first
// occurrence of each target row sums every occurrence in index order, which is
// the order the CPU reference adds them in.
__global__ void index_add_kernel(const float* src, const int64_t* idx, int64_t n_idx, int64_t row,
                                 float* out, int64_t out_rows, KernelErrorWord* err) {
  BASIN_GRID_STRIDE(i, n_idx * row) {
    const int64_t r = i / row, c = i % row;
    const int64_t target = idx[r];
    if (target < 0 || target >= out_rows) {
      if (atomicCAS(&err->code, 0ull, (unsigned long long)kIndexAddOutOfRange) == 0ull) {
        err->value = target;
        err->bound = out_rows;
      }
      continue;
    }
    bool first = true;
    for (int64_t j = 0; j < r; ++j)
      if (idx[j] == target) { first = false; break; }
    if (!first) continue;
    float acc = out[target * row + c];
    for (int64_t j = r; j < n_idx; ++j)
      if (idx[j] == target) acc += src[j * row + c];
    out[target * row + c] = acc;
  }
}

template <class Fn>
void dispatch_word(DType dtype, Fn&& fn) {
  switch (dtype_size(dtype)) {
    case 1: fn(uint8_t{}); break;
    case 4: fn(uint32_t{}); break;
    case 8: fn(uint64_t{}); break;
    default: fail(cat("cuda: unsupported element size ", dtype_size(dtype)));
  }
}

}  // namespace

void CudaBackend::fill(Tensor& out, double value) {
  if (out.numel() == 0) return;
  switch (out.dtype()) {
    case DType::F32: launch_fill<float>(out, static_cast<float>(value)); break;
    case DType::F64: launch_fill<double>(out, value); break;
    case DType::I32: launch_fill<int32_t>(out, static_cast<int32_t>(value)); break;
    case DType::I64: launch_fill<int64_t>(out, static_cast<int64_t>(value)); break;
    case DType::U8: launch_fill<uint8_t>(out, static_cast<uint8_t>(value)); break;
  }
}

void CudaBackend::copy_strided(const Tensor& src, Tensor& dst) {
  if (dst.numel() == 0) return;
  BASIN_CHECK(src.dtype() == dst.dtype(), "cuda copy_strided: dtype ", src.str(), " vs ", dst.str());
  if (src.is_contiguous() && dst.is_contiguous()) {
    copy_device(dst.raw_data(), src.raw_data(), dst.numel() * dtype_size(dst.dtype()));
    return;
  }
  dispatch_word(dst.dtype(), [&](auto word) { launch_copy_strided<decltype(word)>(src, dst); });
}

void CudaBackend::cast(const Tensor& src, Tensor& dst) {
  if (src.numel() == 0) return;
  if (src.dtype() == dst.dtype()) {
    copy_device(dst.raw_data(), src.raw_data(), src.numel() * dtype_size(src.dtype()));
    return;
  }
  switch (src.dtype()) {
    case DType::F32: launch_cast_from<float>(src, dst); break;
    case DType::F64: launch_cast_from<double>(src, dst); break;
    case DType::I32: launch_cast_from<int32_t>(src, dst); break;
    case DType::I64: launch_cast_from<int64_t>(src, dst); break;
    case DType::U8: launch_cast_from<uint8_t>(src, dst); break;
  }
}

void CudaBackend::index_select_rows(const Tensor& a, const Tensor& idx, Tensor& out) {
  BASIN_CHECK(idx.dtype() == DType::I64, "cuda index_select: indices must be i64, got ", idx.str());
  dispatch_word(a.dtype(), [&](auto word) { launch_index_select<decltype(word)>(a, idx, out); });
}

void CudaBackend::index_add_rows(const Tensor& src, const Tensor& idx, Tensor& out) {
  require_f32(src, "index_add");
  require_f32(out, "index_add");
  BASIN_CHECK(idx.dtype() == DType::I64, "cuda index_add: indices must be i64, got ", idx.str());
  const int64_t n_idx = idx.numel();
  const int64_t row = n_idx == 0 ? 0 : src.numel() / n_idx;
  if (n_idx * row == 0) return;
  const int64_t out_rows = out.shape()[0];
  index_add_kernel<<<grid_for(n_idx * row), kThreads, 0, stream()>>>(
      data_ptr<float>(src), data_ptr<int64_t>(idx), n_idx, row, data_ptr<float>(out), out_rows,
      context().error_word);
  check_launch("index_add_kernel");
}

}  // namespace basin::cuda
