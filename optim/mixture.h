// Two-component mixture fits by EM on values in [0, 1], used to split training
// samples into likely-clean and likely-noisy (CA-SAM, wrong-event statistics).
// Gaussian mixture: exact M-step. Beta mixture: weighted method-of-moments M-step.
#pragma once
#include <vector>

namespace basin::optim {

struct MixtureFit {
  // Components are ordered by mean: [0] the low one, [1] the high one.
  double weight[2] = {0.5, 0.5};
  double mean[2] = {0, 0};
  double var[2] = {0, 0};
  double alpha[2] = {0, 0};  // Beta mixture only
  double beta[2] = {0, 0};   // Beta mixture only
  std::vector<double> posterior_high;  // P(component [1] | x_i), one per value
  double log_likelihood = 0.0;
  int iterations = 0;
  bool converged = false;
  // All values (nearly) equal: no split is possible; posterior_high is all 1.
  bool degenerate = false;
};

// EM for a two-component 1-D Gaussian mixture. Values should lie in [0, 1]
// (variances are floored at 1e-6 of that scale). Stops when the log-likelihood
// changes by less than tol (relative to the number of values) or after max_iter.
MixtureFit fit_gaussian_mixture2(const std::vector<double>& values, int max_iter = 200,
                                 double tol = 1e-9);

// EM for a two-component Beta mixture on values clamped to [1e-4, 1 - 1e-4];
// the M-step matches each component's weighted mean and variance.
MixtureFit fit_beta_mixture2(const std::vector<double>& values, int max_iter = 200,
                             double tol = 1e-9);

// --- IDO's Beta mixture (docs/algorithms.md "IDO", ALGORITHMS.md) ---------
// Component [0] is the clean one (low normalised wrong-event counts), [1] the
// noisy one. The defaults are IDO's initialisation: clean Beta(1, 2), noisy
// Beta(2, 1), weights 1/2, 1/2.
struct BetaMixture2 {
  double alpha[2] = {1.0, 2.0};
  double beta[2] = {2.0, 1.0};
  double weight[2] = {0.5, 0.5};
};

// IDO's clip of the normalised counts: [1e-6, 1 - 1e-6].
constexpr double kIdoClip = 1e-6;

// `iterations` EM iterations from the mixture's current parameters (a refit
// continues from the last fit). Each iteration: E-step (responsibilities
// r_ki), then per component the weighted method-of-moments M-step
// alpha = m (m (1 - m) / v - 1), beta = alpha (1 - m) / m, weight = mean_i r_ki,
// then IDO's clamps: beta_clean < 1.02 -> 1.1, alpha_noisy < 1.02 -> 1.1.
// Guards (IDO's code has none): a component with total responsibility below
// 1e-12 keeps its parameters; v is kept in [1e-12, (1 - 1e-9) m (1 - m)] so
// that alpha, beta > 0. x must lie in (0, 1) (clip with kIdoClip first).
void beta_mixture_em(BetaMixture2& mixture, const std::vector<double>& x, int iterations);

// What IDO reads out of a fitted mixture at one x.
struct MixtureReadout {
  double p_clean = 0, p_noisy = 0;      // posteriors (p_clean + p_noisy = 1)
  double cdf_clean = 0, cdf_noisy = 0;  // F_c(x) = I_x(alpha_0, beta_0), F_n(x) = I_x(alpha_1, beta_1)
};
MixtureReadout read_out(const BetaMixture2& mixture, double x);

// The regularised incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b),
// the Beta(a, b) CDF, for a, b > 0 and x in [0, 1]: a continued fraction
// (modified Lentz), on the side of x where it converges fast.
double regularized_incomplete_beta(double a, double b, double x);

// (x - min) / (max - min); all zeros when max == min.
std::vector<double> min_max_normalize(const std::vector<double>& values);

}  // namespace basin::optim
