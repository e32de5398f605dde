// IDO's pieces against independent double-precision computations: the
// regularised incomplete beta against numerical integration, the Beta-mixture
// EM and the per-sample weights (p_c, F_c, F_n, eps) for given wrong-event
// counts against a re-implementation written here, and the loss
// L = L_ce + L_sim + L_ent with its gradient against plain loops and central
// finite differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "optim/ido_loss.h"
#include "optim/mixture.h"
#include "optim/wrong_event_mixture.h"
#include "ido_reference.h"

using namespace basin;
using namespace basin::optim;

namespace {

double beta_density(double a, double b, double t) {
  return std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b)) * std::pow(t, a - 1) *
         std::pow(1 - t, b - 1);
}

// Composite Simpson of g over [0, u].
template <class F>
double simpson(F g, double u, int n) {
  const double h = u / n;
  double s = g(0.0) + g(u);
  for (int i = 1; i < n; ++i) s += (i % 2 ? 4.0 : 2.0) * g(i * h);
  return s * h / 3.0;
}

// The Beta(a, b) CDF by integration of the density over [0, x] (x <= 1/2;
// above, the mirrored side). t = x s^m, m = max(1, 5/a), turns
// int_0^x t^(a-1) (1-t)^(b-1) dt into x^a m int_0^1 s^(ma-1) (1 - x s^m)^(b-1) ds,
// whose integrand is smooth (exponent ma - 1 >= 4) even where the density is unbounded.
double integrated_cdf(double a, double b, double x, int n = 20000) {
  const double norm = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b));
  auto side = [&](double p, double q, double y) {
    const double m = std::max(1.0, 5.0 / p);
    return std::pow(y, p) * m *
           simpson([&](double u) { return std::pow(u, m * p - 1) * std::pow(1 - y * std::pow(u, m), q - 1); }, 1.0, n);
  };
  return x <= 0.5 ? norm * side(a, b, x) : 1 - norm * side(b, a, 1 - x);
}

// The EM of ALGORITHMS.md written out plainly: densities (not logs), then moments.
struct RefMix {
  double a[2] = {1, 2}, b[2] = {2, 1}, w[2] = {0.5, 0.5};
  double post_clean(double x) const {
    const double c = w[0] * beta_density(a[0], b[0], x), n = w[1] * beta_density(a[1], b[1], x);
    return c / (c + n);
  }
  void em(const std::vector<double>& x, int iterations) {
    for (int it = 0; it < iterations; ++it) {
      std::vector<double> r(x.size());
      for (size_t i = 0; i < x.size(); ++i) r[i] = post_clean(x[i]);
      for (int k = 0; k < 2; ++k) {
        double sw = 0, m = 0, v = 0;
        for (size_t i = 0; i < x.size(); ++i) sw += k ? 1 - r[i] : r[i];
        for (size_t i = 0; i < x.size(); ++i) m += (k ? 1 - r[i] : r[i]) * x[i] / sw;
        for (size_t i = 0; i < x.size(); ++i) v += (k ? 1 - r[i] : r[i]) * (x[i] - m) * (x[i] - m) / sw;
        a[k] = m * (m * (1 - m) / v - 1);
        b[k] = a[k] * (1 - m) / m;
        w[k] = sw / static_cast<double>(x.size());
      }
      if (b[0] < 1.02) b[0] = 1.1;
      if (a[1] < 1.02) a[1] = 1.1;
    }
  }
};

// Wrong-event-like counts: most samples few events, a fifth many.
std::vector<double> draw_counts(Generator& gen, size_t n) {
  std::vector<double> c(n);
  for (double& v : c)
    v = gen.uniform() < 0.2 ? std::floor(6 + 6 * gen.uniform()) : std::floor(4 * gen.uniform() * gen.uniform());
  return c;
}

}  // namespace

TEST_CASE("ido: the regularised incomplete beta matches numerical integration and closed forms") {
  const double params[][2] = {{2, 3}, {1.5, 4.2}, {5, 1.3}, {3.3, 7.1}, {1.1, 1.1}, {20, 30}};
  for (const auto& p : params)
    for (double x : {0.02, 0.3, 0.41, 0.6, 0.97}) {
      CAPTURE(p[0]);
      CAPTURE(p[1]);
      CAPTURE(x);
      CHECK(regularized_incomplete_beta(p[0], p[1], x) == doctest::Approx(integrated_cdf(p[0], p[1], x)).epsilon(1e-10));
    }
  // Closed forms, including a, b < 1 where the density is unbounded.
  for (double x : {1e-6, 0.2, 0.5, 0.9, 1 - 1e-6}) {
    CHECK(regularized_incomplete_beta(0.4, 1.0, x) == doctest::Approx(std::pow(x, 0.4)).epsilon(1e-12));
    CHECK(regularized_incomplete_beta(1.0, 0.7, x) == doctest::Approx(1 - std::pow(1 - x, 0.7)).epsilon(1e-12));
    CHECK(regularized_incomplete_beta(2.5, 3.5, x) + regularized_incomplete_beta(3.5, 2.5, 1 - x) ==
          doctest::Approx(1.0).epsilon(1e-13));
  }
  CHECK(regularized_incomplete_beta(2, 3, 0.0) == 0.0);
  CHECK(regularized_incomplete_beta(2, 3, 1.0) == 1.0);
  CHECK_THROWS_AS(regularized_incomplete_beta(0.0, 1.0, 0.5), Error);
  CHECK_THROWS_AS(regularized_incomplete_beta(1.0, 1.0, 1.5), Error);
}

TEST_CASE("ido: Beta-mixture EM from IDO's initialisation and its refits match the re-implementation") {
  Generator gen(21);
  std::vector<double> x;
  for (int i = 0; i < 600; ++i) {
    const double u = gen.uniform();
    x.push_back(std::clamp(gen.uniform() < 0.3 ? std::pow(u, 1.0 / 4.0) : 1 - std::pow(u, 1.0 / 3.0), kIdoClip,
                           1 - kIdoClip));
  }
  BetaMixture2 mix;
  RefMix ref;
  beta_mixture_em(mix, x, 20);
  ref.em(x, 20);
  for (int k = 0; k < 2; ++k) {
    CHECK(mix.alpha[k] == doctest::Approx(ref.a[k]).epsilon(1e-9));
    CHECK(mix.beta[k] == doctest::Approx(ref.b[k]).epsilon(1e-9));
    CHECK(mix.weight[k] == doctest::Approx(ref.w[k]).epsilon(1e-9));
  }
  CHECK(mix.weight[1] == doctest::Approx(0.3).epsilon(0.2));  // the high component is the 30%
  // A refit continues from the current parameters (2 more iterations on shifted data).
  for (double& v : x) v = std::clamp(v * 0.9 + 0.05, kIdoClip, 1 - kIdoClip);
  beta_mixture_em(mix, x, 2);
  ref.em(x, 2);
  for (int k = 0; k < 2; ++k) {
    CHECK(mix.alpha[k] == doctest::Approx(ref.a[k]).epsilon(1e-9));
    CHECK(mix.beta[k] == doctest::Approx(ref.b[k]).epsilon(1e-9));
  }
  // The clamps: data piled at both ends pushes beta_clean and alpha_noisy below 1.02.
  std::vector<double> ends;
  for (int i = 0; i < 200; ++i) ends.push_back(i % 2 ? 1 - kIdoClip : 0.5 * gen.uniform() + kIdoClip);
  BetaMixture2 clamped;
  RefMix ref_clamped;
  beta_mixture_em(clamped, ends, 3);
  ref_clamped.em(ends, 3);
  CHECK(clamped.beta[0] == doctest::Approx(ref_clamped.b[0]).epsilon(1e-9));
  CHECK(clamped.alpha[1] == doctest::Approx(ref_clamped.a[1]).epsilon(1e-9));
  CHECK(clamped.alpha[0] == doctest::Approx(ref_clamped.a[0]).epsilon(1e-9));
  CHECK(clamped.beta[1] == doctest::Approx(ref_clamped.b[1]).epsilon(1e-9));
  CHECK((clamped.beta[0] == 1.1 || clamped.alpha[1] == 1.1));  // a clamp took effect
  CHECK_THROWS_AS(beta_mixture_em(clamped, {0.5, 1.0}, 1), Error);
}

TEST_CASE("ido: per-class read-out of p_c, p_n, F_c, F_n and eps for given counts") {
  Generator gen(5);
  const int64_t classes = 3;
  const size_t n = 300;
  std::vector<double> counts = draw_counts(gen, n);
  std::vector<int64_t> labels(n);
  for (auto& l : labels) l = gen.randint(classes);
  for (bool per_class : {true, false}) {
    CAPTURE(per_class);
    WrongEventMixture mixture(classes, per_class);
    CHECK_THROWS_AS(mixture.read_out(counts, labels), Error);  // no fit yet
    mixture.fit(counts, labels, 20);
    const DifficultyReadout got = mixture.read_out(counts, labels);
    CHECK(got.clamped_above == 0);
    CHECK(got.clamped_below == 0);
    const int64_t groups = per_class ? classes : 1;
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<size_t> members;
      for (size_t i = 0; i < n; ++i)
        if (!per_class || labels[i] == g) members.push_back(i);
      double lo = 1e300, hi = -1e300;
      for (size_t i : members) lo = std::min(lo, counts[i]), hi = std::max(hi, counts[i]);
      std::vector<double> x;
      for (size_t i : members) x.push_back(std::clamp((counts[i] - lo) / (hi - lo), 1e-6, 1 - 1e-6));
      RefMix ref;
      ref.em(x, 20);
      for (size_t j = 0; j < members.size(); j += 7) {
        const size_t i = members[j];
        CAPTURE(i);
        const double pc = ref.post_clean(x[j]);
        CHECK(got.p_clean[i] == doctest::Approx(pc).epsilon(1e-8));
        CHECK(got.p_noisy[i] == doctest::Approx(1 - pc).epsilon(1e-8));
        const double fc = integrated_cdf(ref.a[0], ref.b[0], x[j], 200000);
        const double fn = integrated_cdf(ref.a[1], ref.b[1], x[j], 200000);
        CHECK(got.cdf_clean[i] == doctest::Approx(fc).epsilon(1e-9));
        CHECK(got.cdf_noisy[i] == doctest::Approx(fn).epsilon(1e-9));
        CHECK(ido_epsilon(got.p_clean[i], got.p_noisy[i], got.cdf_clean[i], got.cdf_noisy[i]) ==
              doctest::Approx(pc * fc + pc * (1 - fn)).epsilon(1e-8));
      }
    }
    // Counts above the last fit's max read as the max: never p = 0 by falling off the fit.
    std::vector<double> grown = counts;
    const auto top = std::max_element(counts.begin(), counts.end()) - counts.begin();
    grown[top] += 5;
    const DifficultyReadout later = mixture.read_out(grown, labels);
    CHECK(later.clamped_above == 1);
    CHECK(later.p_noisy[top] == got.p_noisy[top]);
    CHECK(later.p_noisy[top] > 0.5);
    // Checkpoint round trip.
    WrongEventMixture restored(classes, per_class);
    restored.load_state(mixture.state_tensors());
    CHECK(restored.read_out(counts, labels).p_clean == got.p_clean);
  }
  // A class whose counts are all equal is not fitted and reads as clean.
  WrongEventMixture flat(2, true);
  flat.fit({0, 0, 0, 3, 1}, {0, 0, 0, 1, 1}, 20);
  const DifficultyReadout r = flat.read_out({0, 0, 0, 3, 1}, {0, 0, 0, 1, 1});
  CHECK(r.p_clean[0] > 0.99);
  CHECK_THROWS_AS(flat.fit({0, 1}, {0, 2}, 1), Error);
}

TEST_CASE("ido: the loss and its gradient match plain loops and finite differences") {
  Generator gen(9);
  const int64_t B = 6, C = 5, N = 10;
  std::vector<double> zw(B * C), zs(B * C), pc_all(N), eps_all(N);
  for (double& v : zw) v = 1.5 * gen.normal();
  for (double& v : zs) v = 1.5 * gen.normal();
  zw[2 * C + 1] = 14.0;  // a confident row: its weak softmax is clipped at 1 - 1e-4
  for (double& v : pc_all) v = gen.uniform();
  for (double& v : eps_all) v = 1.5 * gen.uniform();
  const std::vector<int64_t> idx = {7, 0, 3, 9, 4, 1};
  std::vector<int64_t> y(B);
  for (auto& v : y) v = gen.randint(C);
  std::vector<double> pc(B), eps(B);
  for (int64_t i = 0; i < B; ++i) pc[i] = pc_all[idx[i]], eps[i] = eps_all[idx[i]];

  const IdoLoss loss(pc_all, eps_all, Device::cpu(), DType::F64);
  CHECK(loss.views() == 2);
  std::vector<double> both = zw;
  both.insert(both.end(), zs.begin(), zs.end());
  Tensor z = from_vector<double>(both, {2 * B, C});
  z.requires_grad_(true);
  LossRows rows{from_vector<int64_t>(y, {B}), from_vector<int64_t>(idx, {B})};
  Tensor value = mean(loss.per_sample(z, rows));
  const double expected = basin::test::ido_loop_loss(zw, zs, y, pc, eps, B, C);
  CHECK(value.item() == doctest::Approx(expected).epsilon(1e-12));
  value.backward();
  const std::vector<double> grad = z.grad().to_vector<double>();
  const double h = 1e-6;
  for (size_t j = 0; j < both.size(); ++j) {
    CAPTURE(j);
    std::vector<double> up = both, down = both;
    up[j] += h;
    down[j] -= h;
    auto eval = [&](const std::vector<double>& v) {
      return basin::test::ido_loop_loss(std::vector<double>(v.begin(), v.begin() + B * C),
                       std::vector<double>(v.begin() + B * C, v.end()), y, pc, eps, B, C);
    };
    CHECK(grad[j] == doctest::Approx((eval(up) - eval(down)) / (2 * h)).epsilon(1e-6).scale(1e-3));
  }
  // The three terms add up to the per-sample loss.
  const IdoTerms t = ido_terms(z.narrow(0, 0, B).detach(), z.narrow(0, B, B).detach(), rows.labels,
                               from_vector<double>(pc, {B}), from_vector<double>(eps, {B}));
  CHECK(mean(add(add(t.ce, t.sim), t.ent)).item() == doctest::Approx(expected).epsilon(1e-12));
  CHECK_THROWS_AS(loss.per_sample(z, LossRows{rows.labels, Tensor()}), Error);
}
