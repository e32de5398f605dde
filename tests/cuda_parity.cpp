// CUDA-vs-CPU parity: every case of tests/parity_cases.h runs on both backends
// and every returned tensor (outputs and gradients) must agree to the case's
// relative L2 tolerance. Also checks deterministic mode gives identical bits.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda_skip.h"
#include "parity_cases.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

namespace {

using basin::Device;
using basin::DType;
using basin::Tensor;

std::vector<double> host_values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>();
}

// ||a - b|| / ||a||, with a the CPU reference (absolute when the reference is 0).
double relative_l2(const std::vector<double>& ref, const std::vector<double>& got) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(ref[i])) {
      if (!(std::isnan(ref[i]) && std::isnan(got[i])) && ref[i] != got[i]) return INFINITY;
      continue;
    }
    diff += (ref[i] - got[i]) * (ref[i] - got[i]);
    norm += ref[i] * ref[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

}  // namespace

// Runs everywhere: the table itself must be runnable and deterministic on the
// reference backend, or a GPU session would first find bugs in the tests.
TEST_CASE("cuda: parity table runs on the CPU, finite and repeatable") {
  const auto cases = basin::parity::parity_cases();
  CHECK(cases.size() >= 20);
  for (const basin::parity::ParityCase& c : cases) {
    INFO("case: ", std::string(c.name));
    std::vector<Tensor> first, second;
    REQUIRE_NOTHROW(first = c.run(Device::cpu()));
    REQUIRE_NOTHROW(second = c.run(Device::cpu()));
    REQUIRE(!first.empty());
    REQUIRE(first.size() == second.size());
    for (size_t k = 0; k < first.size(); ++k) {
      INFO("output ", k);
      REQUIRE(first[k].defined());
      const std::vector<double> a = host_values(first[k]), b = host_values(second[k]);
      CHECK(a == b);
      bool finite = true, nonzero = false;
      for (double v : a) {
        finite = finite && std::isfinite(v);
        nonzero = nonzero || v != 0.0;
      }
      CHECK(finite);
      CHECK(nonzero);  // an all-zero output would compare trivially
    }
  }
}

TEST_CASE("cuda: every parity case agrees with the CPU backend") {
  BASIN_SKIP_WITHOUT_CUDA();
  int compared = 0;
  for (const basin::parity::ParityCase& c : basin::parity::parity_cases()) {
    INFO("case: ", std::string(c.name));
    std::vector<Tensor> ref, got;
    REQUIRE_NOTHROW(ref = c.run(Device::cpu()));
    REQUIRE_NOTHROW(got = c.run(Device::cuda(0)));
    REQUIRE(ref.size() == got.size());
    for (size_t k = 0; k < ref.size(); ++k) {
      INFO("output ", k, " of ", ref.size());
      REQUIRE(ref[k].defined());
      REQUIRE(got[k].defined());
      CHECK(ref[k].shape() == got[k].shape());
      CHECK(ref[k].dtype() == got[k].dtype());
      const std::vector<double> a = host_values(ref[k]), b = host_values(got[k]);
      REQUIRE(a.size() == b.size());
      const double err = relative_l2(a, b);
      INFO("relative L2 error ", err, " (tolerance ", c.tol, ")");
      CHECK(err <= c.tol);
      ++compared;
    }
  }
  MESSAGE("compared " << compared << " tensors across " << basin::parity::parity_cases().size()
                      << " cases");
}

TEST_CASE("cuda: the parity cases produce device tensors on the device") {
  BASIN_SKIP_WITHOUT_CUDA();
  // A case that silently computed on the CPU would pass parity trivially.
  for (const basin::parity::ParityCase& c : basin::parity::parity_cases()) {
    INFO("case: ", std::string(c.name));
    const std::vector<Tensor> got = c.run(Device::cuda(0));
    bool any_on_device = false;
    for (const Tensor& t : got) any_on_device = any_on_device || t.device().is_cuda();
    const std::string name = c.name;
    if (name != "dot_value") CHECK(any_on_device);
  }
}

#if defined(BASIN_HAS_CUDA)
TEST_CASE("cuda: deterministic mode repeats the conv net bit for bit") {
  BASIN_SKIP_WITHOUT_CUDA();
  basin::cuda::set_deterministic(true);
  const auto cases = basin::parity::parity_cases();
  const basin::parity::ParityCase* net = nullptr;
  for (const auto& c : cases)
    if (std::string(c.name) == "small conv net forward + backward") net = &c;
  REQUIRE(net != nullptr);
  const std::vector<Tensor> first = net->run(Device::cuda(0));
  const std::vector<Tensor> second = net->run(Device::cuda(0));
  basin::cuda::set_deterministic(false);
  REQUIRE(first.size() == second.size());
  for (size_t k = 0; k < first.size(); ++k) {
    INFO("output ", k);
    CHECK(host_values(first[k]) == host_values(second[k]));
  }
}

TEST_CASE("cuda: basin's own im2col convolution agrees with the CPU (cuDNN switched off)") {
  BASIN_SKIP_WITHOUT_CUDA();
  basin::cuda::set_cudnn_enabled(false);
  CHECK(!basin::cuda::uses_cudnn());
  int compared = 0;
  for (const basin::parity::ParityCase& c : basin::parity::parity_cases()) {
    const std::string name = c.name;
    if (name.find("conv") == std::string::npos) continue;
    INFO("case: ", std::string(c.name));
    const std::vector<Tensor> ref = c.run(Device::cpu());
    const std::vector<Tensor> got = c.run(Device::cuda(0));
    REQUIRE(ref.size() == got.size());
    for (size_t k = 0; k < ref.size(); ++k) {
      INFO("output ", k);
      const double err = relative_l2(host_values(ref[k]), host_values(got[k]));
      INFO("relative L2 error ", err, " (tolerance ", c.tol, ")");
      CHECK(err <= c.tol);
      ++compared;
    }
  }
  basin::cuda::set_cudnn_enabled(true);
  CHECK(compared >= 10);
}

TEST_CASE("cuda: TF32 switch changes GEMM precision only within TF32 error") {
  BASIN_SKIP_WITHOUT_CUDA();
  const Tensor a = basin::parity::input({64, 256}, 101, Device::cpu());
  const Tensor b = basin::parity::input({256, 48}, 102, Device::cpu());
  const std::vector<double> ref = host_values(basin::matmul(a, b));
  basin::cuda::set_tf32(true);
  const std::vector<double> fast = host_values(basin::matmul(a.to(Device::cuda(0)), b.to(Device::cuda(0))));
  basin::cuda::set_tf32(false);
  const std::vector<double> exact = host_values(basin::matmul(a.to(Device::cuda(0)), b.to(Device::cuda(0))));
  CHECK(relative_l2(ref, exact) <= 1e-5);
  CHECK(relative_l2(ref, fast) <= 5e-3);  // TF32 keeps 10 mantissa bits
}
#endif
