// IDO's per-sample difficulty read-out: Beta mixtures fitted to the
// wrong-event counts (optim/sample_tracker.h), one per observed class (the
// default, as the authors mostly ran it) or one for the whole training set.
// Each group normalises its counts by its own min and max at fit time:
// x = (count - min) / (max - min), clipped to [1e-6, 1 - 1e-6].
// Counts outside the last fit's [min, max] (they grow during a stage-2
// epoch) read as the nearest end: a count above max reads as x = 1 - 1e-6,
// the most noisy position the fit has seen, never as "no density" (p = 0);
// read_out reports how many it clamped. A group whose counts are all equal
// (max == min) is not refitted; its samples read out at x = 1e-6 from the
// current parameters (clean, under the initialisation).
#pragma once
#include <cstdint>
#include <vector>

#include "core/safetensors.h"
#include "optim/mixture.h"

namespace basin::optim {

struct DifficultyReadout {
  // One per sample, from its group's mixture at its normalised count.
  std::vector<double> p_clean, p_noisy, cdf_clean, cdf_noisy;
  int64_t clamped_above = 0;  // counts above their group's last-fit max (read as the max)
  int64_t clamped_below = 0;  // counts below their group's last-fit min (read as the min)
};

class WrongEventMixture {
 public:
  WrongEventMixture() = default;
  // num_classes: the labels run over [0, num_classes); per_class: one mixture per observed class.
  WrongEventMixture(int64_t num_classes, bool per_class);

  // `iterations` EM iterations per group from the current parameters, on the
  // counts of the samples whose observed label is in the group; records each
  // group's min and max. counts and labels: one per training sample.
  void fit(const std::vector<double>& counts, const std::vector<int64_t>& labels, int iterations);
  // Read-out per sample (see the file comment). Throws when no fit has run.
  DifficultyReadout read_out(const std::vector<double>& counts, const std::vector<int64_t>& labels) const;

  bool per_class() const { return per_class_; }
  int64_t groups() const { return static_cast<int64_t>(mixtures_.size()); }
  const BetaMixture2& mixture(int64_t group) const { return mixtures_.at(group); }
  int64_t fits() const { return fits_; }

  // Checkpoint: "<prefix>params" f64 [G, 8] (alpha0, alpha1, beta0, beta1,
  // weight0, weight1, min, max), "<prefix>fits" i64 [1].
  NamedTensors state_tensors(const std::string& prefix = "ido.mixture.") const;
  void load_state(const NamedTensors& tensors, const std::string& prefix = "ido.mixture.");

 private:
  int64_t group_of(int64_t label) const;
  bool per_class_ = true;
  std::vector<BetaMixture2> mixtures_;
  std::vector<double> min_, max_;
  int64_t fits_ = 0;
};

// IDO's similarity weight eps = p_c F_c + (1 - p_n)(1 - F_n).
double ido_epsilon(double p_clean, double p_noisy, double cdf_clean, double cdf_noisy);

}  // namespace basin::optim
