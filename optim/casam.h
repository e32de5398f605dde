// CA-SAM, clean-aware SAM (Huang et al., Sci. Rep. 2025), in basin's reading:
// the ascent direction comes from the likely-clean members of the batch only,
//   g_C = grad of the mean CE over them (second upstream gradient through the
//         retained pass-1 graph),  e = rho * g_C / (|g_C| + 1e-12),
// falling back to SAM when a batch has none. The clean split is refit at the
// start of every epoch (after warm-up) from the SampleTracker's history:
//   ema-gmm (default): 2-component Gaussian mixture on the EMA of p(y~|x);
//                      clean = posterior of the high-mean component > 0.5
//   wrong-bmm:         2-component Beta mixture on min-max normalised wrong
//                      events; clean = posterior of the low component > 0.5
//   low-loss:          per class, the clean_fraction of samples with the lowest last loss
// Samples never visited count as clean. Plain SGD during warm-up.
#pragma once
#include "optim/mixture.h"
#include "optim/sam.h"

namespace basin::optim {

class CaSam : public Sam {
 public:
  // tracker is required (the split reads it); the clean mask starts all clean.
  CaSam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker);
  const char* name() const override { return "casam"; }

  // Refits the split from the tracker now (begin_epoch does this at the start
  // of every epoch >= max(warmup_epochs, 1)).
  void refit_split();
  // Replace the per-sample mask (0/1, [N], any device / dtype): tests, or an
  // app that brings its own split.
  void set_clean_mask(const Tensor& mask);
  // f32 [N] on the device, 1 = likely clean.
  const Tensor& clean_mask() const { return clean_mask_; }
  int64_t num_likely_clean() const;
  // The last mixture fit (empty for the low-loss split or before the first fit).
  const MixtureFit& last_fit() const { return last_fit_; }

  void begin_epoch(int64_t epoch) override;
  NamedTensors state_tensors() const override;
  void load_state(const NamedTensors& tensors) override;

 protected:
  bool second_pass(const StepInput& input) const override;
  bool needs_pass1_graph(const StepInput&) const override { return true; }
  void perturb(const StepInput& input, const Pass1& pass1, StepResult& result) override;
  void add_dump_entries(NamedTensors& tensors, const StepResult& result) const override;

 private:
  Tensor clean_mask_;
  MixtureFit last_fit_;
};

}  // namespace basin::optim
