// The caching allocator: reuse without cudaMalloc in a repeated step, the
// statistics (allocated, cached, peak), and the out-of-memory message.
#include <doctest/doctest.h>

#include <string>

#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "cuda_skip.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"

using basin::Device;
using basin::DType;
using basin::Tensor;

TEST_CASE("cuda: allocator reuses blocks; a repeated step calls cudaMalloc no more") {
  BASIN_SKIP_WITHOUT_CUDA();
  auto step = [] {
    Tensor a = basin::full({1000, 37}, 1.5, DType::F32, Device::cuda(0));
    Tensor b = basin::full({1000, 37}, 2.0, DType::F32, Device::cuda(0));
    Tensor c = basin::add(basin::mul(a, b), a);
    return basin::sum(c).item();
  };
  CHECK(step() == doctest::Approx(1000.0 * 37 * 4.5));
  const size_t calls = basin::cuda::device_malloc_calls();
  for (int i = 0; i < 5; ++i) CHECK(step() == doctest::Approx(1000.0 * 37 * 4.5));
  CHECK(basin::cuda::device_malloc_calls() == calls);
  CHECK(basin::cuda::cached_bytes() > 0);
}

TEST_CASE("cuda: allocated and peak bytes follow tensors") {
  BASIN_SKIP_WITHOUT_CUDA();
  basin::cuda::reset_peak();
  const size_t base = basin::cuda::allocated_bytes();
  {
    Tensor t = basin::empty({1 << 20}, DType::F32, Device::cuda(0));  // 4 MiB
    CHECK(basin::cuda::allocated_bytes() >= base + (4u << 20));
    CHECK(basin::cuda::peak_allocated_bytes() >= base + (4u << 20));
  }
  CHECK(basin::cuda::allocated_bytes() == base);
  CHECK(basin::cuda::peak_allocated_bytes() >= base + (4u << 20));
  basin::cuda::reset_peak();
  CHECK(basin::cuda::peak_allocated_bytes() == base);
  basin::cuda::empty_cache();
  CHECK(basin::cuda::cached_bytes() == 0);
}

TEST_CASE("cuda: out of memory names the request and what is free") {
  BASIN_SKIP_WITHOUT_CUDA();
  std::string message;
  try {
    Tensor huge = basin::empty({int64_t(1) << 46}, DType::F32, Device::cuda(0));  // 256 TiB
  } catch (const basin::Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("out of memory") != std::string::npos);
  CHECK(message.find("requested") != std::string::npos);
  CHECK(message.find("free") != std::string::npos);
  // The device stays usable afterwards.
  CHECK(basin::sum(basin::ones({10}, DType::F32, Device::cuda(0))).item() == 10.0);
}
#endif
