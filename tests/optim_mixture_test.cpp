// Two-component mixture EM on samples drawn from known mixtures: the fitted
// parameters come back within tolerance and the posteriors classify the draws.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "optim/mixture.h"

using namespace basin;
using namespace basin::optim;

TEST_CASE("optim: Gaussian mixture EM recovers a known mixture") {
  Generator gen(42);
  std::vector<double> x;
  std::vector<int> truth;
  for (int i = 0; i < 4000; ++i) {
    const bool high = gen.uniform() < 0.7;  // 70% "clean", high confidence
    x.push_back(high ? 0.8 + 0.06 * gen.normal() : 0.25 + 0.08 * gen.normal());
    truth.push_back(high);
  }
  const MixtureFit fit = fit_gaussian_mixture2(x);
  CHECK(fit.converged);
  CHECK_FALSE(fit.degenerate);
  CHECK(fit.mean[0] == doctest::Approx(0.25).epsilon(0.02 / 0.25));
  CHECK(fit.mean[1] == doctest::Approx(0.8).epsilon(0.02 / 0.8));
  CHECK(std::sqrt(fit.var[0]) == doctest::Approx(0.08).epsilon(0.1));
  CHECK(std::sqrt(fit.var[1]) == doctest::Approx(0.06).epsilon(0.1));
  CHECK(fit.weight[1] == doctest::Approx(0.7).epsilon(0.03 / 0.7));
  int correct = 0;
  for (size_t i = 0; i < x.size(); ++i) correct += (fit.posterior_high[i] > 0.5) == (truth[i] == 1);
  CHECK(correct / static_cast<double>(x.size()) > 0.98);
}

TEST_CASE("optim: Beta mixture EM recovers a known mixture") {
  // Beta(1, b) = 1 - U^(1/b) (mean 1/(1+b)), Beta(a, 1) = U^(1/a) (mean a/(a+1)).
  Generator gen(7);
  std::vector<double> x;
  std::vector<int> truth;
  for (int i = 0; i < 4000; ++i) {
    const bool high = gen.uniform() < 0.3;
    const double u = gen.uniform();
    x.push_back(high ? std::pow(u, 1.0 / 6.0) : 1.0 - std::pow(u, 1.0 / 6.0));
    truth.push_back(high);
  }
  const MixtureFit fit = fit_beta_mixture2(x);
  CHECK(fit.mean[0] == doctest::Approx(1.0 / 7.0).epsilon(0.03 / (1.0 / 7.0)));
  CHECK(fit.mean[1] == doctest::Approx(6.0 / 7.0).epsilon(0.03 / (6.0 / 7.0)));
  CHECK(fit.alpha[1] == doctest::Approx(6.0).epsilon(0.25));
  CHECK(fit.beta[0] == doctest::Approx(6.0).epsilon(0.25));
  CHECK(fit.weight[1] == doctest::Approx(0.3).epsilon(0.03 / 0.3));
  int correct = 0;
  for (size_t i = 0; i < x.size(); ++i) correct += (fit.posterior_high[i] > 0.5) == (truth[i] == 1);
  CHECK(correct / static_cast<double>(x.size()) > 0.95);
}

TEST_CASE("optim: mixture fits handle constant input, min-max normalisation and bad values") {
  const MixtureFit flat_fit = fit_gaussian_mixture2(std::vector<double>(10, 0.4));
  CHECK(flat_fit.degenerate);
  CHECK(flat_fit.posterior_high == std::vector<double>(10, 1.0));
  CHECK(fit_beta_mixture2(std::vector<double>(5, 0.0)).degenerate);
  CHECK(min_max_normalize({2, 4, 6, 3}) == std::vector<double>{0, 0.5, 1, 0.25});
  CHECK(min_max_normalize({3, 3}) == std::vector<double>{0, 0});
  CHECK_THROWS_AS(fit_gaussian_mixture2({0.1}), Error);
  CHECK_THROWS_AS(fit_gaussian_mixture2({0.1, NAN, 0.3}), Error);
}
