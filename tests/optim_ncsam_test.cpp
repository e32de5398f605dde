// NCSAM's pieces on their own: s(t), sampling probabilities, temporary labels,
// and Gumbel-top-k sampling (distinct, reproducible, follows p).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/ops.h"
#include "core/error.h"
#include "core/philox.h"
#include "optim/ncsam.h"
#include "optim/sampling.h"

using namespace basin;
using namespace basin::optim;

TEST_CASE("optim: NCSAM strength s(t) at t = 0, 0.25, 0.5, 1 and in between") {
  const double kappa = 0.3;
  CHECK(ncsam_strength(0.0, kappa) == 0.0);
  CHECK(ncsam_strength(0.25, kappa) == doctest::Approx(kappa * 2 * 2.5 * 0.0625));  // 0.3125 kappa
  CHECK(ncsam_strength(0.5, kappa) == doctest::Approx(kappa));   // r(0.5) = 1
  CHECK(ncsam_strength(1.0, kappa) == doctest::Approx(kappa));   // saturated
  CHECK(ncsam_strength(0.75, kappa) == doctest::Approx(kappa));  // r = 1.6875, capped
  CHECK(ncsam_strength(0.1, 1.0) == doctest::Approx(2 * 2.8 * 0.01));
}

TEST_CASE("optim: NCSAM probabilities follow 1 / (1 + margin); temporary labels skip the label") {
  const std::vector<double> z = {2.0, 1.0, -1.0,   // margin 1, top class 0
                                 0.5, 0.5, 3.0,    // margin 2.5, top 2, runner-up 0 (tie: lower index)
                                 1.0, 1.0, 0.0,    // margin 0
                                 -2.0, 4.0, 1.5};  // margin 2.5
  const Tensor logits = from_vector<double>(z, {4, 3});
  const std::vector<double> p = ncsam_probabilities(logits).to_vector<double>();
  const double q[4] = {1 / 2.0, 1 / 3.5, 1.0, 1 / 3.5};
  const double qs = q[0] + q[1] + q[2] + q[3];
  for (int i = 0; i < 4; ++i) CHECK(p[i] == doctest::Approx(q[i] / qs).epsilon(1e-14));
  // labels: row0 = top class -> runner-up 1; row1 = 1 (not top) -> top 2;
  // row2 = 0, tie with 1 -> 1; row3 = 2 -> top 1
  const Tensor labels = from_vector<int64_t>({0, 1, 0, 2}, {4});
  CHECK(runner_up_labels(logits, labels).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 1, 1});
  CHECK_THROWS_AS(ncsam_probabilities(zeros({4, 1}, DType::F64)), Error);
}

TEST_CASE("optim: Gumbel-top-k draws distinct indices, reproducibly, from the Philox stream") {
  const std::vector<double> p = {0.05, 0.1, 0.3, 0.15, 0.25, 0.15};
  const Tensor logp = log(from_vector<double>(p, {6}));
  Generator a(77), b(77);
  Tensor keys;
  const std::vector<int64_t> first = gumbel_top_k(logp, 4, a, &keys).to_vector<int64_t>();
  CHECK(a.offset() == 6);
  CHECK(gumbel_top_k(logp, 4, b).to_vector<int64_t>() == first);
  CHECK(std::set<int64_t>(first.begin(), first.end()).size() == 4);
  // keys by hand from the documented stream
  const std::vector<double> k = keys.to_vector<double>();
  for (int i = 0; i < 6; ++i) {
    const double u = philox_uniform_at(77, static_cast<uint64_t>(i));
    CHECK(k[i] == doctest::Approx(std::log(p[i]) - std::log(-std::log(u))).epsilon(1e-14));
  }
  // the chosen are the 4 largest keys, in descending order
  std::vector<int64_t> order = {0, 1, 2, 3, 4, 5};
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return k[x] > k[y]; });
  CHECK(std::vector<int64_t>(order.begin(), order.begin() + 4) == first);
  // a different offset gives (almost surely) a different draw; k = n takes everything
  bool differs = false;
  for (int trial = 0; trial < 5 && !differs; ++trial)
    differs = gumbel_top_k(logp, 4, a).to_vector<int64_t>() != first;
  CHECK(differs);
  const std::vector<int64_t> all = gumbel_top_k(logp, 6, a).to_vector<int64_t>();
  CHECK(std::set<int64_t>(all.begin(), all.end()).size() == 6);
  CHECK_THROWS_AS(gumbel_top_k(logp, 7, a), Error);
}

TEST_CASE("optim: Gumbel-top-k inclusion frequencies follow p") {
  const std::vector<double> p = {0.02, 0.08, 0.1, 0.15, 0.25, 0.4};
  const Tensor logp = log(from_vector<double>(p, {6}));
  Generator gen(5);
  const int draws = 6000;
  // k = 1 is the Gumbel-max trick: frequencies estimate p itself.
  std::vector<double> freq(6, 0.0);
  for (int d = 0; d < draws; ++d) freq[gumbel_top_k(logp, 1, gen).item()] += 1.0 / draws;
  for (int i = 0; i < 6; ++i) CHECK(std::abs(freq[i] - p[i]) < 0.025);
  // k = 3 without replacement: inclusion grows with p and correlates with it.
  std::vector<double> inc(6, 0.0);
  for (int d = 0; d < draws; ++d)
    for (int64_t i : gumbel_top_k(logp, 3, gen).to_vector<int64_t>()) inc[i] += 1.0 / draws;
  double total = 0;
  for (double v : inc) total += v;
  CHECK(total == doctest::Approx(3.0));
  for (int i = 0; i + 1 < 6; ++i) CHECK(inc[i] < inc[i + 1]);
  double mp = 0, mi = 0;
  for (int i = 0; i < 6; ++i) { mp += p[i] / 6; mi += inc[i] / 6; }
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 6; ++i) {
    sxy += (p[i] - mp) * (inc[i] - mi);
    sxx += (p[i] - mp) * (p[i] - mp);
    syy += (inc[i] - mi) * (inc[i] - mi);
  }
  CHECK(sxy / std::sqrt(sxx * syy) > 0.9);
  CHECK(inc[5] < 1.0);  // without replacement, never more than once per draw
}
