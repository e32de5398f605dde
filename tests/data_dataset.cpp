// Dataset helpers: subset, validation, class counts and the normalisation
// constants (published ones by name, computed ones against a plain loop).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "data/dataset.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::data;
using basin::test::error_message;

namespace {

Dataset random_dataset(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Dataset ds;
  ds.name = "random";
  ds.num_classes = 5;
  ds.images = empty({n, 3, 4, 5}, DType::U8);
  for (int64_t k = 0; k < ds.images.numel(); ++k) ds.images.data<uint8_t>()[k] = static_cast<uint8_t>(rng());
  ds.labels = empty({n}, DType::I64);
  ds.coarse_labels = empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.data<int64_t>()[i] = rng() % 5;
    ds.coarse_labels.data<int64_t>()[i] = ds.labels.data<int64_t>()[i] / 2;
  }
  const Normalization norm = compute_normalization(ds.images);
  ds.mean = norm.mean;
  ds.std = norm.std;
  return ds;
}

}  // namespace

TEST_CASE("data: subset picks the requested rows in order") {
  const Dataset ds = random_dataset(20, 1);
  const std::vector<int64_t> pick = {7, 0, 19, 7};
  const Dataset sub = ds.subset(pick);
  REQUIRE(sub.images.shape() == Shape{4, 3, 4, 5});
  const uint8_t* src = ds.images.data<uint8_t>();
  const uint8_t* dst = sub.images.data<uint8_t>();
  int bad = 0;
  for (size_t k = 0; k < pick.size(); ++k) {
    for (int b = 0; b < 60; ++b) bad += dst[k * 60 + b] != src[pick[k] * 60 + b];
    bad += sub.labels.data<int64_t>()[k] != ds.labels.data<int64_t>()[pick[k]];
    bad += sub.coarse_labels.data<int64_t>()[k] != ds.coarse_labels.data<int64_t>()[pick[k]];
  }
  CHECK(bad == 0);
  CHECK(sub.mean == ds.mean);
  CHECK(sub.num_classes == 5);
  CHECK_NOTHROW(sub.validate());
  const std::string msg = error_message([&] { ds.subset({3, 20}); });
  CHECK_MESSAGE(msg.find("index 20") != std::string::npos, msg);
}

TEST_CASE("data: compute_normalization against a plain loop, standard constants by name") {
  const Dataset ds = random_dataset(30, 2);
  for (int c = 0; c < 3; ++c) {
    double sum = 0, sum_sq = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < 30; ++i)
      for (int k = 0; k < 20; ++k) {
        const double x = ds.images.data<uint8_t>()[(i * 3 + c) * 20 + k] / 255.0;
        sum += x;
        sum_sq += x * x;
        ++count;
      }
    const double mean = sum / count;
    CHECK(ds.mean[c] == doctest::Approx(mean).epsilon(1e-12));
    CHECK(ds.std[c] == doctest::Approx(std::sqrt(sum_sq / count - mean * mean)).epsilon(1e-9));
  }
  // A constant channel gets std 1 instead of dividing by zero later.
  Tensor flat = full({2, 1, 3, 3}, 51.0, DType::U8);
  const Normalization constant = compute_normalization(flat);
  CHECK(constant.mean[0] == doctest::Approx(0.2));
  CHECK(constant.std[0] == 1.0);

  CHECK(standard_normalization("cifar100").std[0] == doctest::Approx(0.2673));
  CHECK(standard_normalization("fashion-mnist").mean == std::vector<double>{0.2860});
  CHECK_THROWS_AS(standard_normalization("imagenet"), basin::Error);
}

TEST_CASE("data: validate and class_counts reject bad labels") {
  Dataset ds = random_dataset(10, 3);
  std::vector<int64_t> want(5, 0);
  for (int64_t i = 0; i < 10; ++i) ++want[ds.labels.data<int64_t>()[i]];
  CHECK(class_counts(ds.labels, 5) == want);
  ds.labels.data<int64_t>()[4] = 5;
  const std::string msg = error_message([&] { ds.validate(); });
  CHECK_MESSAGE(msg.find("sample 4") != std::string::npos, msg);
  CHECK_THROWS_AS(class_counts(ds.labels, 5), basin::Error);
  ds.labels.data<int64_t>()[4] = 1;
  ds.mean.pop_back();
  CHECK_THROWS_AS(ds.validate(), basin::Error);
}
