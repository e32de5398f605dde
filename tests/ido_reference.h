// IDO's loss of ALGORITHMS.md written out with plain f64 loops, the
// independent reference of the optim and apps IDO tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace basin::test {

// L of ALGORITHMS.md with plain loops in f64: z_w, z_s [B][C].
inline double ido_loop_loss(const std::vector<double>& zw, const std::vector<double>& zs, const std::vector<int64_t>& y,
                 const std::vector<double>& pc, const std::vector<double>& eps, int64_t B, int64_t C) {
  double total = 0;
  for (int64_t i = 0; i < B; ++i) {
    auto softmax = [&](const std::vector<double>& z) {
      std::vector<double> p(C);
      double mx = -1e300, s = 0;
      for (int64_t k = 0; k < C; ++k) mx = std::max(mx, z[i * C + k]);
      for (int64_t k = 0; k < C; ++k) s += p[k] = std::exp(z[i * C + k] - mx);
      for (double& v : p) v /= s;
      return p;
    };
    const std::vector<double> pw = softmax(zw), ps = softmax(zs);
    const double ce = -std::log(pw[y[i]]) - std::log(ps[y[i]]);
    double sim = 0;
    for (int64_t k = 0; k < C; ++k) sim += (zs[i * C + k] - zw[i * C + k]) * (zs[i * C + k] - zw[i * C + k]) / C;
    double qmax = 0, h = 0;
    for (int64_t k = 0; k < C; ++k) {
      const double q = 0.5 * (std::clamp(pw[k], 1e-4, 1 - 1e-4) + std::clamp(ps[k], 1e-4, 1 - 1e-4));
      qmax = std::max(qmax, q);
      h -= q * std::log(q);
    }
    total += pc[i] * ce + eps[i] * sim + (1 - pc[i]) * qmax * h;
  }
  return total / static_cast<double>(B);
}

}  // namespace basin::test
