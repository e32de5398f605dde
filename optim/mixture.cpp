// EM for two-component Gaussian and Beta mixtures (see mixture.h).
#include "optim/mixture.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace basin::optim {

namespace {

constexpr double kVarFloor = 1e-6;
constexpr double kBetaClamp = 1e-4;

void check_values(const std::vector<double>& x, const char* who) {
  BASIN_CHECK(x.size() >= 2, who, ": need at least 2 values, got ", x.size());
  for (size_t i = 0; i < x.size(); ++i)
    BASIN_CHECK(std::isfinite(x[i]), who, ": value ", i, " is not finite (", x[i], ")");
}

double quantile(std::vector<double> x, double q) {
  std::sort(x.begin(), x.end());
  const double pos = q * static_cast<double>(x.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (pos - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

// posterior of component 1 from the two weighted log densities, stable.
double posterior_of_second(double log_a, double log_b, double* log_total) {
  const double top = std::max(log_a, log_b);
  const double total = top + std::log(std::exp(log_a - top) + std::exp(log_b - top));
  if (log_total) *log_total = total;
  return std::exp(log_b - total);
}

bool is_degenerate(const std::vector<double>& x, MixtureFit& fit) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (*hi - *lo > 1e-12) return false;
  fit.degenerate = true;
  fit.converged = true;
  fit.mean[0] = fit.mean[1] = *lo;
  fit.posterior_high.assign(x.size(), 1.0);
  return true;
}

// Order components so that [0] has the lower mean.
void order_components(MixtureFit& fit) {
  if (fit.mean[0] <= fit.mean[1]) return;
  std::swap(fit.weight[0], fit.weight[1]);
  std::swap(fit.mean[0], fit.mean[1]);
  std::swap(fit.var[0], fit.var[1]);
  std::swap(fit.alpha[0], fit.alpha[1]);
  std::swap(fit.beta[0], fit.beta[1]);
  for (double& p : fit.posterior_high) p = 1.0 - p;
}

// Weighted mean and variance of x under weights r (component 1) or 1-r (component 0).
void weighted_moments(const std::vector<double>& x, const std::vector<double>& r, int comp,
                      double* weight, double* mean, double* var) {
  double sw = 0, sx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double w = comp == 1 ? r[i] : 1.0 - r[i];
    sw += w;
    sx += w * x[i];
  }
  const double m = sw > 0 ? sx / sw : 0.5;
  double sv = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double w = comp == 1 ? r[i] : 1.0 - r[i];
    sv += w * (x[i] - m) * (x[i] - m);
  }
  *weight = sw / static_cast<double>(x.size());
  *mean = m;
  *var = std::max(sw > 0 ? sv / sw : kVarFloor, kVarFloor);
}

}  // namespace

std::vector<double> min_max_normalize(const std::vector<double>& values) {
  if (values.empty()) return {};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  const double span = *hi - *lo;
  std::vector<double> out(values.size(), 0.0);
  if (span > 0)
    for (size_t i = 0; i < values.size(); ++i) out[i] = (values[i] - *lo) / span;
  return out;
}

MixtureFit fit_gaussian_mixture2(const std::vector<double>& x, int max_iter, double tol) {
  check_values(x, "fit_gaussian_mixture2");
  MixtureFit fit;
  if (is_degenerate(x, fit)) return fit;
  const double n = static_cast<double>(x.size());
  double overall_mean = 0, overall_var = 0;
  for (double v : x) overall_mean += v / n;
  for (double v : x) overall_var += (v - overall_mean) * (v - overall_mean) / n;
  fit.mean[0] = quantile(x, 0.1);
  fit.mean[1] = quantile(x, 0.9);
  if (fit.mean[1] - fit.mean[0] < 1e-9) {  // heavy ties: spread the starts around the mean
    fit.mean[0] = overall_mean - std::sqrt(overall_var);
    fit.mean[1] = overall_mean + std::sqrt(overall_var);
  }
  fit.var[0] = fit.var[1] = std::max(overall_var, kVarFloor);
  fit.posterior_high.assign(x.size(), 0.5);
  double previous = -INFINITY;
  for (fit.iterations = 1; fit.iterations <= max_iter; ++fit.iterations) {
    // E-step
    double loglik = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      double lp[2];
      for (int k = 0; k < 2; ++k) {
        const double d = x[i] - fit.mean[k];
        lp[k] = std::log(std::max(fit.weight[k], 1e-300)) -
                0.5 * std::log(2.0 * 3.14159265358979323846 * fit.var[k]) -
                d * d / (2.0 * fit.var[k]);
      }
      double total;
      fit.posterior_high[i] = posterior_of_second(lp[0], lp[1], &total);
      loglik += total;
    }
    fit.log_likelihood = loglik;
    // M-step
    for (int k = 0; k < 2; ++k)
      weighted_moments(x, fit.posterior_high, k, &fit.weight[k], &fit.mean[k], &fit.var[k]);
    if (std::abs(loglik - previous) < tol * n) {
      fit.converged = true;
      break;
    }
    previous = loglik;
  }
  fit.iterations = std::min(fit.iterations, max_iter);
  order_components(fit);
  return fit;
}

MixtureFit fit_beta_mixture2(const std::vector<double>& values, int max_iter, double tol) {
  check_values(values, "fit_beta_mixture2");
  MixtureFit fit;
  if (is_degenerate(values, fit)) return fit;
  std::vector<double> x(values.size());
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::min(std::max(values[i], kBetaClamp), 1.0 - kBetaClamp);
  const double n = static_cast<double>(x.size());

  // Start from a hard two-means split.
  double c0 = quantile(x, 0.1), c1 = quantile(x, 0.9);
  std::vector<double> r(x.size(), 0.0);
  for (int it = 0; it < 20; ++it) {
    double s0 = 0, s1 = 0, n0 = 0, n1 = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      r[i] = std::abs(x[i] - c1) < std::abs(x[i] - c0) ? 1.0 : 0.0;
      (r[i] > 0 ? s1 : s0) += x[i];
      (r[i] > 0 ? n1 : n0) += 1;
    }
    if (n0 > 0) c0 = s0 / n0;
    if (n1 > 0) c1 = s1 / n1;
  }
  double previous = -INFINITY;
  for (fit.iterations = 1; fit.iterations <= max_iter; ++fit.iterations) {
    // M-step: moments of each component, matched by a Beta distribution.
    for (int k = 0; k < 2; ++k) {
      double m, v;
      weighted_moments(x, r, k, &fit.weight[k], &m, &v);
      m = std::min(std::max(m, kBetaClamp), 1.0 - kBetaClamp);
      v = std::min(v, 0.999 * m * (1.0 - m));
      const double common = m * (1.0 - m) / v - 1.0;
      fit.alpha[k] = m * common;
      fit.beta[k] = (1.0 - m) * common;
      fit.mean[k] = m;
      fit.var[k] = v;
    }
    // E-step
    double loglik = 0;
    double lnorm[2];
    for (int k = 0; k < 2; ++k)
      lnorm[k] = std::lgamma(fit.alpha[k] + fit.beta[k]) - std::lgamma(fit.alpha[k]) -
                 std::lgamma(fit.beta[k]);
    for (size_t i = 0; i < x.size(); ++i) {
      double lp[2];
      for (int k = 0; k < 2; ++k)
        lp[k] = std::log(std::max(fit.weight[k], 1e-300)) + lnorm[k] +
                (fit.alpha[k] - 1.0) * std::log(x[i]) + (fit.beta[k] - 1.0) * std::log1p(-x[i]);
      double total;
      r[i] = posterior_of_second(lp[0], lp[1], &total);
      loglik += total;
    }
    fit.log_likelihood = loglik;
    if (std::abs(loglik - previous) < tol * n) {
      fit.converged = true;
      break;
    }
    previous = loglik;
  }
  fit.iterations = std::min(fit.iterations, max_iter);
  fit.posterior_high = r;
  order_components(fit);
  return fit;
}

}  // namespace basin::optim

// --- IDO's Beta mixture ----------------------------------------------------

namespace basin::optim {

namespace {

double log_beta_density(double a, double b, double x) {
  return std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + (a - 1.0) * std::log(x) +
         (b - 1.0) * std::log1p(-x);
}

// Posterior of the clean component, in log space so far tails cannot give 0/0.
double clean_posterior(const BetaMixture2& m, double x) {
  const double lc = std::log(std::max(m.weight[0], 1e-300)) + log_beta_density(m.alpha[0], m.beta[0], x);
  const double ln = std::log(std::max(m.weight[1], 1e-300)) + log_beta_density(m.alpha[1], m.beta[1], x);
  return 1.0 - posterior_of_second(lc, ln, nullptr);
}

// Continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a + 1) / (a + b + 2).
double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-16;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // even step
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + num * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1.0 + num / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    // odd step
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + num * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1.0 + num / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1.0) < kEps) break;
  }
  return h;
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  BASIN_CHECK(a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b),
              "regularized_incomplete_beta: a and b must be finite and > 0, got a = ", a, ", b = ", b);
  BASIN_CHECK(x >= 0 && x <= 1, "regularized_incomplete_beta: x must lie in [0, 1], got ", x);
  if (x == 0.0) return 0.0;
  if (x == 1.0) return 1.0;
  // x^a (1 - x)^b / B(a, b), the prefactor of both forms.
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                           b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * incomplete_beta_fraction(a, b, x) / a;
  return 1.0 - front * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

void beta_mixture_em(BetaMixture2& mix, const std::vector<double>& x, int iterations) {
  for (size_t i = 0; i < x.size(); ++i)
    BASIN_CHECK(x[i] > 0 && x[i] < 1, "beta_mixture_em: value ", i, " = ", x[i], " is outside (0, 1)");
  const double n = static_cast<double>(x.size());
  std::vector<double> r_clean(x.size());
  for (int it = 0; it < iterations && !x.empty(); ++it) {
    for (size_t i = 0; i < x.size(); ++i) r_clean[i] = clean_posterior(mix, x[i]);
    for (int k = 0; k < 2; ++k) {
      double sw = 0, sx = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double w = k == 0 ? r_clean[i] : 1.0 - r_clean[i];
        sw += w;
        sx += w * x[i];
      }
      mix.weight[k] = sw / n;
      if (sw < 1e-12) continue;  // an empty component keeps its shape parameters
      const double m = sx / sw;
      double v = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double w = k == 0 ? r_clean[i] : 1.0 - r_clean[i];
        v += w * (x[i] - m) * (x[i] - m);
      }
      v = std::min(std::max(v / sw, 1e-12), (1.0 - 1e-9) * m * (1.0 - m));
      mix.alpha[k] = m * (m * (1.0 - m) / v - 1.0);
      mix.beta[k] = mix.alpha[k] * (1.0 - m) / m;
    }
    if (mix.beta[0] < 1.02) mix.beta[0] = 1.1;
    if (mix.alpha[1] < 1.02) mix.alpha[1] = 1.1;
  }
}

MixtureReadout read_out(const BetaMixture2& mix, double x) {
  BASIN_CHECK(x > 0 && x < 1, "mixture read_out: x = ", x, " is outside (0, 1)");
  MixtureReadout out;
  out.p_clean = clean_posterior(mix, x);
  out.p_noisy = 1.0 - out.p_clean;
  out.cdf_clean = regularized_incomplete_beta(mix.alpha[0], mix.beta[0], x);
  out.cdf_noisy = regularized_incomplete_beta(mix.alpha[1], mix.beta[1], x);
  return out;
}

}  // namespace basin::optim
