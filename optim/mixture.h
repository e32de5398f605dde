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

// (x - min) / (max - min); all zeros when max == min.
std::vector<double> min_max_normalize(const std::vector<double>& values);

}  // namespace basin::optim
