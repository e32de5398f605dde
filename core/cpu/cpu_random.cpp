// CPU random fills from the Philox stream: element i of a fill draws counter
// offset + i, computed in double exactly as backend.h states, so the CUDA
// backend reproduces the same values from the same (seed, offset). The final
// scale-and-shift is an explicit fma: compilers contract a*b+c on some targets
// and not others, and an explicit fma rounds the same everywhere (CUDA included).
#include <cmath>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"
#include "core/philox.h"

namespace basin::cpu {

void CpuBackend::fill_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  check_contiguous("fill_uniform", out);
  const int64_t n = out.numel();
  dispatch_floating(out.dtype(), "fill_uniform", [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<T>(std::fma(hi - lo, philox_uniform_at(seed, offset + uint64_t(i)), lo));
  });
}

void CpuBackend::fill_uniform_at(Tensor& out, uint64_t seed, const Tensor& offset, double lo, double hi) {
  BASIN_CHECK(offset.defined() && offset.dtype() == DType::I64 && offset.numel() == 1,
              "cpu backend fill_uniform_at: the offset must be an i64 tensor of one element, got ",
              offset.defined() ? offset.str() : std::string("undefined"));
  // Read in place, as a CUDA kernel reads device memory: not a counted host read.
  fill_uniform(out, seed, static_cast<uint64_t>(*static_cast<const int64_t*>(offset.raw_data())), lo, hi);
}

void CpuBackend::fill_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                             double stddev) {
  check_contiguous("fill_normal", out);
  const int64_t n = out.numel();
  const double two_pi = 6.283185307179586476925286766559;
  dispatch_floating(out.dtype(), "fill_normal", [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
    for (int64_t i = 0; i < n; ++i) {
      const Philox4 r = philox4x32(seed, offset + uint64_t(i));
      const double u1 = philox_uniform_f64(r.v[0], r.v[1]);
      const double u2 = philox_uniform_f64(r.v[2], r.v[3]);
      const double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(two_pi * u2);
      p[i] = static_cast<T>(std::fma(stddev, z, mean));
    }
  });
}

}  // namespace basin::cpu
