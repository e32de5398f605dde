// BatchNorm2d semantics against double loops: batch statistics in training,
// running statistics with momentum 0.1 and the unbiased variance, eval on the
// running statistics, and FreezeBatchNormStats leaving them untouched.
#include <doctest/doctest.h>

#include <cmath>
#include <thread>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "nn/batch_norm.h"

using namespace basin;
using basin::testing::random_tensor;

namespace {

std::vector<double> values(const Tensor& t) { return t.contiguous().to(DType::F64).to_vector<double>(); }

// Per-channel mean and biased variance of x viewed as [N, C, S].
void channel_stats(const std::vector<double>& x, int64_t n, int64_t c, int64_t s,
                   std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(c, 0.0);
  var.assign(c, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < s; ++j) mean[k] += x[(i * c + k) * s + j];
  for (auto& m : mean) m /= double(n * s);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < s; ++j) {
        const double d = x[(i * c + k) * s + j] - mean[k];
        var[k] += d * d;
      }
  for (auto& v : var) v /= double(n * s);
}

void check_normalised(const std::vector<double>& y, const std::vector<double>& x,
                      const std::vector<double>& gamma, const std::vector<double>& beta,
                      const std::vector<double>& mean, const std::vector<double>& var, int64_t n,
                      int64_t c, int64_t s, double tol) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < s; ++j) {
        const int64_t at = (i * c + k) * s + j;
        const double expected = gamma[k] * (x[at] - mean[k]) / std::sqrt(var[k] + 1e-5) + beta[k];
        CHECK(y[at] == doctest::Approx(expected).epsilon(tol));
      }
}

void run_semantics(const Shape& shape, DType dtype, double tol) {
  const int64_t n = shape[0], c = shape[1], s = shape.size() == 4 ? shape[2] * shape[3] : 1;
  nn::BatchNorm2d bn(c);
  bn.to(dtype);
  {
    NoGrad ng;
    bn.weight.copy_(random_tensor({c}, 21, dtype, 0.5, 1.5));
    bn.bias.copy_(random_tensor({c}, 22, dtype));
  }
  const auto gamma = values(bn.weight), beta = values(bn.bias);
  const Tensor x1 = random_tensor(shape, 31, dtype, -2.0, 3.0);
  const Tensor x2 = random_tensor(shape, 32, dtype, -1.0, 1.0);
  const auto xv1 = values(x1), xv2 = values(x2);
  std::vector<double> m1, v1, m2, v2;
  channel_stats(xv1, n, c, s, m1, v1);
  channel_stats(xv2, n, c, s, m2, v2);
  const double unbias = double(n * s) / double(n * s - 1);

  // Training step 1: batch statistics; running stats from (0, 1).
  check_normalised(values(bn(x1)), xv1, gamma, beta, m1, v1, n, c, s, tol);
  std::vector<double> rm(c), rv(c);
  for (int64_t k = 0; k < c; ++k) {
    rm[k] = 0.9 * 0.0 + 0.1 * m1[k];
    rv[k] = 0.9 * 1.0 + 0.1 * v1[k] * unbias;
  }
  auto got_m = bn.running_mean_values(), got_v = bn.running_var_values();
  for (int64_t k = 0; k < c; ++k) {
    CHECK(got_m[k] == doctest::Approx(rm[k]).epsilon(tol));
    CHECK(got_v[k] == doctest::Approx(rv[k]).epsilon(tol));
  }
  CHECK(bn.batches_tracked() == 1);

  // Frozen training pass: batch statistics of x2, running stats untouched (bit for bit).
  {
    nn::FreezeBatchNormStats freeze;
    check_normalised(values(bn(x2)), xv2, gamma, beta, m2, v2, n, c, s, tol);
    CHECK(bn.running_mean_values() == got_m);
    CHECK(bn.running_var_values() == got_v);
    CHECK(bn.batches_tracked() == 1);
  }

  // Training step 2 (freeze gone): momentum compounds.
  bn(x2);
  for (int64_t k = 0; k < c; ++k) {
    rm[k] = 0.9 * rm[k] + 0.1 * m2[k];
    rv[k] = 0.9 * rv[k] + 0.1 * v2[k] * unbias;
  }
  got_m = bn.running_mean_values();
  got_v = bn.running_var_values();
  for (int64_t k = 0; k < c; ++k) {
    CHECK(got_m[k] == doctest::Approx(rm[k]).epsilon(tol));
    CHECK(got_v[k] == doctest::Approx(rv[k]).epsilon(tol));
  }
  CHECK(bn.batches_tracked() == 2);

  // Eval: running statistics, and no update.
  bn.eval();
  check_normalised(values(bn(x1)), xv1, gamma, beta, got_m, got_v, n, c, s, tol);
  CHECK(bn.running_mean_values() == got_m);
  CHECK(bn.batches_tracked() == 2);
}

}  // namespace

TEST_CASE("nn: BatchNorm2d semantics on [N, C, H, W] in f64") { run_semantics({3, 4, 5, 2}, DType::F64, 1e-10); }
TEST_CASE("nn: BatchNorm2d semantics on [N, C, H, W] in f32") { run_semantics({4, 3, 3, 3}, DType::F32, 1e-4); }
TEST_CASE("nn: BatchNorm2d semantics on [N, C]") { run_semantics({6, 5}, DType::F64, 1e-10); }

TEST_CASE("nn: FreezeBatchNormStats nests and is per thread") {
  CHECK_FALSE(nn::FreezeBatchNormStats::active());
  {
    nn::FreezeBatchNormStats outer;
    CHECK(nn::FreezeBatchNormStats::active());
    {
      nn::FreezeBatchNormStats inner;
      CHECK(nn::FreezeBatchNormStats::active());
    }
    CHECK(nn::FreezeBatchNormStats::active());
    bool other_thread_active = true;
    std::thread t([&] { other_thread_active = nn::FreezeBatchNormStats::active(); });
    t.join();
    CHECK_FALSE(other_thread_active);
  }
  CHECK_FALSE(nn::FreezeBatchNormStats::active());
}

TEST_CASE("nn: BatchNorm2d rejects a wrong channel count") {
  nn::BatchNorm2d bn(4);
  CHECK_THROWS_AS(bn(random_tensor({2, 3, 2, 2}, 1, DType::F32)), Error);
}
