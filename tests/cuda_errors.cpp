// Error paths of the CUDA backend: no device (runs on every machine), bad
// indices and labels reported from kernels, f64 rejection, device mixing, and
// what the build reports about its architectures.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "cuda_skip.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"

using basin::Device;
using basin::DType;
using basin::Tensor;

namespace {
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const basin::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("cuda: the backend is registered and the build names its architectures") {
  CHECK(basin::has_backend(basin::DeviceType::CUDA));
  const std::string archs = basin::cuda::built_architectures();
  INFO(archs);
  CHECK(archs.rfind("sm_", 0) == 0);
}

TEST_CASE("cuda: without a device every use is a clear error, not a crash") {
  if (basin::cuda::device_count() > 0) {
    MESSAGE("skipped: a CUDA device is present (this test covers machines without one)");
    return;
  }
  CHECK(!basin::cuda::no_device_reason().empty());
  const std::string m1 = error_of([] { basin::empty({4}, DType::F32, Device::cuda(0)); });
  INFO(m1);
  CHECK(m1.find("no CUDA device") != std::string::npos);
  CHECK(m1.find("cudaGetDeviceCount") != std::string::npos);
  const std::string m2 = error_of([] { basin::cuda::device_name(0); });
  CHECK(m2.find("no CUDA device") != std::string::npos);
  CHECK(basin::cuda::allocated_bytes() == 0);
  MESSAGE("skipped: no CUDA device (" << basin::cuda::no_device_reason()
                                      << "); checked that CUDA use fails with a clear error");
}

TEST_CASE("cuda: out-of-range indices and labels raise errors from the kernels") {
  BASIN_SKIP_WITHOUT_CUDA();
  const Device d = Device::cuda(0);
  Tensor a = basin::ones({4, 3}, DType::F32, d);
  Tensor bad = basin::from_vector<int64_t>({1, 7}, {2}).to(d);
  const std::string m1 = error_of([&] { basin::index_select(a, bad).to(Device::cpu()); });
  INFO(m1);
  CHECK(m1.find("index 7") != std::string::npos);
  Tensor logits = basin::ones({2, 3}, DType::F32, d);
  Tensor labels = basin::from_vector<int64_t>({0, 3}, {2}).to(d);
  const std::string m2 = error_of([&] { basin::cross_entropy(logits, labels).item(); });
  INFO(m2);
  CHECK(m2.find("label 3") != std::string::npos);
  // The error is reported once; the device keeps working.
  CHECK(basin::sum(basin::ones({5}, DType::F32, d)).item() == 5.0);
}

TEST_CASE("cuda: f64 compute is rejected with the op's name; f64 layout ops work") {
  BASIN_SKIP_WITHOUT_CUDA();
  const Device d = Device::cuda(0);
  Tensor x = basin::from_vector<double>({1.0, -2.0, 3.0}, {3}).to(d);
  const std::string m = error_of([&] { basin::exp(x).to(Device::cpu()); });
  INFO(m);
  CHECK(m.find("f64 not supported") != std::string::npos);
  std::vector<double> back = x.to(DType::F32).to(DType::F64).to(Device::cpu()).to_vector<double>();
  CHECK(back == std::vector<double>{1.0, -2.0, 3.0});
}

TEST_CASE("cuda: mixing CPU and CUDA tensors names both devices") {
  BASIN_SKIP_WITHOUT_CUDA();
  Tensor a = basin::ones({3}, DType::F32, Device::cpu());
  Tensor b = basin::ones({3}, DType::F32, Device::cuda(0));
  const std::string m = error_of([&] { basin::add(a, b); });
  INFO(m);
  CHECK(m.find("cpu") != std::string::npos);
  CHECK(m.find("cuda:0") != std::string::npos);
}

TEST_CASE("cuda: device description") {
  BASIN_SKIP_WITHOUT_CUDA();
  const auto cc = basin::cuda::compute_capability(0);
  CHECK(cc.major >= 5);
  CHECK(!basin::cuda::device_name(0).empty());
  MESSAGE("device 0: " << basin::cuda::device_name(0) << " sm_" << cc.major << cc.minor
                       << "; build carries " << basin::cuda::built_architectures());
}
#else
TEST_CASE("cuda: backend not built") {
  MESSAGE("skipped: no CUDA device (" << basin::testing::cuda_absence_reason() << ")");
}
#endif
