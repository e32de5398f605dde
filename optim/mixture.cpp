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
