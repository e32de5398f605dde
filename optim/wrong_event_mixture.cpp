// Per-class Beta mixtures on wrong-event counts; see wrong_event_mixture.h.
#include "optim/wrong_event_mixture.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace basin::optim {

WrongEventMixture::WrongEventMixture(int64_t num_classes, bool per_class) : per_class_(per_class) {
  BASIN_CHECK(num_classes >= 1, "WrongEventMixture: need at least one class, got ", num_classes);
  const size_t g = per_class ? static_cast<size_t>(num_classes) : 1;
  mixtures_.assign(g, BetaMixture2{});
  min_.assign(g, 0.0);
  max_.assign(g, 0.0);
}

int64_t WrongEventMixture::group_of(int64_t label) const {
  BASIN_CHECK(label >= 0 && (!per_class_ || label < groups()), "WrongEventMixture: label ", label,
              " is outside [0, ", groups(), ")");
  return per_class_ ? label : 0;
}

void WrongEventMixture::fit(const std::vector<double>& counts, const std::vector<int64_t>& labels,
                            int iterations) {
  BASIN_CHECK(!mixtures_.empty(), "WrongEventMixture: not constructed");
  BASIN_CHECK(counts.size() == labels.size(), "WrongEventMixture.fit: ", counts.size(), " counts but ",
              labels.size(), " labels");
  std::vector<std::vector<double>> grouped(mixtures_.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    BASIN_CHECK(std::isfinite(counts[i]), "WrongEventMixture.fit: count ", i, " is not finite");
    grouped[group_of(labels[i])].push_back(counts[i]);
  }
  for (size_t g = 0; g < grouped.size(); ++g) {
    const std::vector<double>& c = grouped[g];
    if (c.empty()) continue;  // no sample observed with this class: nothing to fit or read
    const auto [lo, hi] = std::minmax_element(c.begin(), c.end());
    min_[g] = *lo;
    max_[g] = *hi;
    if (!(*hi > *lo)) continue;  // all equal: no shape to fit
    std::vector<double> x(c.size());
    for (size_t i = 0; i < c.size(); ++i)
      x[i] = std::clamp((c[i] - *lo) / (*hi - *lo), kIdoClip, 1.0 - kIdoClip);
    beta_mixture_em(mixtures_[g], x, iterations);
  }
  ++fits_;
}

DifficultyReadout WrongEventMixture::read_out(const std::vector<double>& counts,
                                             const std::vector<int64_t>& labels) const {
  BASIN_CHECK(fits_ > 0, "WrongEventMixture.read_out: no fit has run yet");
  BASIN_CHECK(counts.size() == labels.size(), "WrongEventMixture.read_out: ", counts.size(),
              " counts but ", labels.size(), " labels");
  DifficultyReadout out;
  const size_t n = counts.size();
  out.p_clean.resize(n);
  out.p_noisy.resize(n);
  out.cdf_clean.resize(n);
  out.cdf_noisy.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t g = group_of(labels[i]);
    const double lo = min_[g], hi = max_[g];
    double c = counts[i];
    if (c > hi) {
      c = hi;
      ++out.clamped_above;
    } else if (c < lo) {
      c = lo;
      ++out.clamped_below;
    }
    const double x = hi > lo ? std::clamp((c - lo) / (hi - lo), kIdoClip, 1.0 - kIdoClip) : kIdoClip;
    const MixtureReadout r = optim::read_out(mixtures_[g], x);
    out.p_clean[i] = r.p_clean;
    out.p_noisy[i] = r.p_noisy;
    out.cdf_clean[i] = r.cdf_clean;
    out.cdf_noisy[i] = r.cdf_noisy;
  }
  return out;
}

NamedTensors WrongEventMixture::state_tensors(const std::string& prefix) const {
  std::vector<double> params;
  for (size_t g = 0; g < mixtures_.size(); ++g) {
    const BetaMixture2& m = mixtures_[g];
    for (double v : {m.alpha[0], m.alpha[1], m.beta[0], m.beta[1], m.weight[0], m.weight[1], min_[g], max_[g]})
      params.push_back(v);
  }
  NamedTensors out;
  out.emplace_back(prefix + "params", from_vector<double>(params, {groups(), 8}));
  out.emplace_back(prefix + "fits", from_vector<int64_t>({fits_}, {1}));
  return out;
}

void WrongEventMixture::load_state(const NamedTensors& tensors, const std::string& prefix) {
  const Tensor* params = nullptr;
  const Tensor* fits = nullptr;
  for (const auto& [name, t] : tensors) {
    if (name == prefix + "params") params = &t;
    if (name == prefix + "fits") fits = &t;
  }
  BASIN_CHECK(params && params->dtype() == DType::F64 && params->dim() == 2 &&
                  params->size(0) == groups() && params->size(1) == 8,
              "WrongEventMixture.load_state: '", prefix, "params' must be f64 [", groups(), ", 8]");
  BASIN_CHECK(fits && fits->dtype() == DType::I64 && fits->numel() == 1,
              "WrongEventMixture.load_state: '", prefix, "fits' must be i64 [1]");
  const std::vector<double> p = params->to(Device::cpu()).to_vector<double>();
  for (size_t g = 0; g < mixtures_.size(); ++g) {
    const double* row = &p[g * 8];
    mixtures_[g].alpha[0] = row[0];
    mixtures_[g].alpha[1] = row[1];
    mixtures_[g].beta[0] = row[2];
    mixtures_[g].beta[1] = row[3];
    mixtures_[g].weight[0] = row[4];
    mixtures_[g].weight[1] = row[5];
    min_[g] = row[6];
    max_[g] = row[7];
  }
  fits_ = fits->to(Device::cpu()).to_vector<int64_t>()[0];
}

double ido_epsilon(double p_clean, double p_noisy, double cdf_clean, double cdf_noisy) {
  return p_clean * cdf_clean + (1.0 - p_noisy) * (1.0 - cdf_noisy);
}

}  // namespace basin::optim
