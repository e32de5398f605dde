// CPU row indexing on dim 0: gather rows by an i64 index list (any dtype) and
// scatter-add rows into an output. Indices are validated before any write.
#include <cstring>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

namespace basin::cpu {

namespace {

void check_indices(const Tensor& idx, int64_t bound, const char* op) {
  check_contiguous(op, idx);
  check_dtype(idx, DType::I64, op, "indices");
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    BASIN_CHECK(ip[i] >= 0 && ip[i] < bound, "cpu backend ", op, ": index ", ip[i],
                " at position ", i, " is out of range for ", bound, " rows");
}

}  // namespace

void CpuBackend::index_select_rows(const Tensor& a, const Tensor& idx, Tensor& out) {
  const char* op = "index_select_rows";
  check_contiguous(op, a, out);
  BASIN_CHECK(a.dim() >= 1, "cpu backend ", op, ": source ", a.str(), " has no rows");
  check_dtype(out, a.dtype(), op, "out");
  const int64_t rows = a.size(0);
  const int64_t row_elems = rows == 0 ? 0 : a.numel() / rows;
  const int64_t n = idx.numel();
  check_numel(out, n * row_elems, op, "out");
  check_indices(idx, rows, op);
  const size_t row_bytes = static_cast<size_t>(row_elems) * dtype_size(a.dtype());
  if (row_bytes == 0) return;
  const int64_t* ip = idx.data<int64_t>();
  const char* src = static_cast<const char*>(a.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
#pragma omp parallel for schedule(static) if (n * row_elems >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * row_bytes, src + ip[i] * row_bytes, row_bytes);
}

void CpuBackend::index_add_rows(const Tensor& src, const Tensor& idx, Tensor& out) {
  const char* op = "index_add_rows";
  check_contiguous(op, src, out);
  BASIN_CHECK(out.dim() >= 1, "cpu backend ", op, ": output ", out.str(), " has no rows");
  check_dtype(src, out.dtype(), op, "src");
  const int64_t rows = out.size(0);
  const int64_t row_elems = rows == 0 ? 0 : out.numel() / rows;
  const int64_t n = idx.numel();
  check_numel(src, n * row_elems, op, "src");
  check_indices(idx, rows, op);
  if (row_elems == 0 || n == 0) return;
  dispatch_floating(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const int64_t* ip = idx.data<int64_t>();
    const T* s = src.data<T>();
    T* d = out.data<T>();
    // Each thread owns a slice of columns and visits the source rows in order,
    // so repeated indices accumulate in the same order on every run.
#pragma omp parallel for schedule(static) if (n * row_elems >= kParallelGrain && row_elems >= 64)
    for (int64_t j0 = 0; j0 < row_elems; j0 += 64) {
      const int64_t j1 = j0 + 64 < row_elems ? j0 + 64 : row_elems;
      for (int64_t i = 0; i < n; ++i) {
        const T* sr = s + i * row_elems;
        T* dr = d + ip[i] * row_elems;
        for (int64_t j = j0; j < j1; ++j) dr[j] += sr[j];
      }
    }
  });
}

}  // namespace basin::cpu
