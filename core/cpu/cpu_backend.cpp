// The CPU backend's memory, transfers and the thin adapters from Backend's
// tensor-level gemm / conv / pool methods to the raw-pointer kernels of
// core/cpu/gemm.h, conv.h and pool.h; also cpu_backend(), the one instance.
#include "core/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/cpu/conv.h"
#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"
#include "core/cpu/gemm.h"
#include "core/cpu/pool.h"

namespace basin {

namespace {
// A training step frees and re-allocates the same large activations every
// step. By default glibc serves such blocks with mmap and unmaps them on free
// (or trims the heap top), so every step paid for fresh zeroed pages: page
// faults were ~10% of a ResNet-20 step. Blocks up to 32 MiB (glibc's ceiling
// for this threshold) now come from the heap and stay there for the next step.
void keep_freed_blocks() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}
}  // namespace

Backend& cpu_backend() {
  static cpu::CpuBackend instance;
  static const bool tuned = (keep_freed_blocks(), true);
  (void)tuned;
  return instance;
}

namespace cpu {

namespace {
// Cache-line (and AVX-512 register) alignment for every block.
constexpr size_t kAlignment = 64;

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
}  // namespace

void* CpuBackend::allocate(size_t nbytes) {
  // aligned_alloc wants a size that is a multiple of the alignment (and > 0).
  const size_t rounded = ((nbytes + kAlignment - 1) / kAlignment) * kAlignment;
  void* ptr = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  BASIN_CHECK(ptr != nullptr, "cpu backend: out of host memory allocating ", nbytes, " bytes");
  return ptr;
}

void CpuBackend::deallocate(void* ptr, size_t /*nbytes*/) { std::free(ptr); }

void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes != 0) std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes != 0) std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes != 0) std::memmove(dst, src, nbytes);
}

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                      double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C,
                      bool b_broadcast) {
  check_contiguous("gemm", A, B, C);
  BASIN_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "cpu backend gemm: negative size (batch ",
              batch, ", M ", M, ", N ", N, ", K ", K, ")");
  check_dtype(B, A.dtype(), "gemm", "B");
  check_dtype(C, A.dtype(), "gemm", "C");
  check_numel(A, batch * M * K, "gemm", "A");
  check_numel(B, (b_broadcast ? 1 : batch) * K * N, "gemm", "B");
  check_numel(C, batch * M * N, "gemm", "C");
  dispatch_floating(A.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T* a = A.data<T>();
    const T* b = B.data<T>();
    T* c = C.data<T>();
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const int64_t b_stride = b_broadcast ? 0 : K * N;
    for (int64_t i = 0; i < batch; ++i)
      cpu::gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), a + i * M * K, lda,
                   b + i * b_stride, ldb, static_cast<T>(beta), c + i * M * N, N);
  });
}

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y,
                                const Conv2dParams& p) {
  check_contiguous("conv2d_forward", x, w, bias, y);
  check_dtype(w, x.dtype(), "conv2d_forward", "weight");
  check_dtype(y, x.dtype(), "conv2d_forward", "y");
  if (bias.defined()) check_dtype(bias, x.dtype(), "conv2d_forward", "bias");
  const ConvShape s = conv_shape(x, w, p);
  check_numel(y, s.N * s.C_out * s.OH * s.OW, "conv2d_forward", "y");
  if (bias.defined()) check_numel(bias, s.C_out, "conv2d_forward", "bias");
  dispatch_floating(x.dtype(), "conv2d_forward", [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_forward<T>(s, p, x.data<T>(), w.data<T>(),
                           static_cast<const T*>(data_or_null(bias)), y.data<T>());
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx,
                                       const Conv2dParams& p) {
  check_contiguous("conv2d_backward_input", gy, w, gx);
  check_dtype(w, gy.dtype(), "conv2d_backward_input", "weight");
  check_dtype(gx, gy.dtype(), "conv2d_backward_input", "gx");
  const ConvShape s = conv_shape(gx, w, p);
  check_numel(gy, s.N * s.C_out * s.OH * s.OW, "conv2d_backward_input", "gy");
  dispatch_floating(gy.dtype(), "conv2d_backward_input", [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_input<T>(s, p, gy.data<T>(), w.data<T>(), gx.data<T>());
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& gy, const Tensor& x, Tensor& gw,
                                        const Conv2dParams& p) {
  check_contiguous("conv2d_backward_weight", gy, x, gw);
  check_dtype(x, gy.dtype(), "conv2d_backward_weight", "x");
  check_dtype(gw, gy.dtype(), "conv2d_backward_weight", "gw");
  const ConvShape s = conv_shape(x, gw, p);
  check_numel(gy, s.N * s.C_out * s.OH * s.OW, "conv2d_backward_weight", "gy");
  dispatch_floating(gy.dtype(), "conv2d_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_weight<T>(s, p, gy.data<T>(), x.data<T>(), gw.data<T>());
  });
}

namespace {
// N, C, H, W from the input side, OH, OW from the output side (both 4-D NCHW).
PoolShape pool_shape(const Tensor& in, const Tensor& out, const char* op) {
  check_contiguous(op, in, out);
  BASIN_CHECK(in.dim() == 4 && out.dim() == 4, "cpu backend ", op,
              ": expected 4-D NCHW tensors, got input ", in.str(), " and output ", out.str());
  BASIN_CHECK(in.size(0) == out.size(0) && in.size(1) == out.size(1), "cpu backend ", op,
              ": input ", in.str(), " and output ", out.str(), " differ in N or C");
  return {in.size(0), in.size(1), in.size(2), in.size(3), out.size(2), out.size(3)};
}
}  // namespace

void CpuBackend::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                    const Pool2dParams& p) {
  check_contiguous("max_pool2d_forward", indices);
  check_dtype(y, x.dtype(), "max_pool2d_forward", "y");
  check_dtype(indices, DType::I32, "max_pool2d_forward", "indices");
  const PoolShape s = pool_shape(x, y, "max_pool2d_forward");
  check_numel(indices, y.numel(), "max_pool2d_forward", "indices");
  dispatch_floating(x.dtype(), "max_pool2d_forward", [&](auto tag) {
    using T = decltype(tag);
    cpu::max_pool2d_forward<T>(s, p, x.data<T>(), y.data<T>(), indices.data<int32_t>());
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) {
  check_contiguous("max_pool2d_backward", indices);
  check_dtype(gx, gy.dtype(), "max_pool2d_backward", "gx");
  check_dtype(indices, DType::I32, "max_pool2d_backward", "indices");
  const PoolShape s = pool_shape(gx, gy, "max_pool2d_backward");
  check_numel(indices, gy.numel(), "max_pool2d_backward", "indices");
  dispatch_floating(gy.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    cpu::max_pool2d_backward<T>(s, gy.data<T>(), indices.data<int32_t>(), gx.data<T>());
  });
}

void CpuBackend::avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  check_dtype(y, x.dtype(), "avg_pool2d_forward", "y");
  const PoolShape s = pool_shape(x, y, "avg_pool2d_forward");
  dispatch_floating(x.dtype(), "avg_pool2d_forward", [&](auto tag) {
    using T = decltype(tag);
    cpu::avg_pool2d_forward<T>(s, p, x.data<T>(), y.data<T>());
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  check_dtype(gx, gy.dtype(), "avg_pool2d_backward", "gx");
  const PoolShape s = pool_shape(gx, gy, "avg_pool2d_backward");
  dispatch_floating(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    cpu::avg_pool2d_backward<T>(s, p, gy.data<T>(), gx.data<T>());
  });
}

}  // namespace cpu
}  // namespace basin
