// `basin train --method ido`: the bookkeeping of IDO's two stages (Zhang et
// al. 2025; docs/algorithms.md "IDO") that the trainer's loop calls into.
// Stage 1 is the usual recipe; after each of its epochs record_stage1_epoch
// counts the training predictions that changed since the previous epoch and
// applies the label-wave rule: the base model is the first epoch where that
// count stops falling (is >= the previous epoch's), else the last stage-1
// epoch. Its weights are copied (clones, not handles to the live parameters:
// the authors' code keeps a reference, so their "base" is the final model).
// Stage 2 starts from the base model; its per-sample loss weights come from
// the wrong-event mixture, fitted with 20 EM iterations before stage 2 and
// refitted with 2 more from the current fit after every stage-2 epoch.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/safetensors.h"
#include "nn/module.h"
#include "optim/ido_loss.h"
#include "optim/wrong_event_mixture.h"

namespace basin::apps {

struct IdoConfig {
  bool enabled = false;         // --method ido
  int64_t stage2_epochs = 10;   // --stage2-epochs
  int magnitude = 5;            // --strong-magnitude (RandAugment magnitude of the strong view)
  bool per_class = true;        // --ido-mixture per-class | single
};

// The EM iterations of the first fit and of each refit (ALGORITHMS.md: 20, then 1-2).
constexpr int kIdoFirstFitIterations = 20;
constexpr int kIdoRefitIterations = 2;

// What a mixture fit says about the training set, for the log.
struct IdoFitReport {
  int64_t fits = 0;
  double mean_p_clean = 0, mean_epsilon = 0;
  int64_t clamped_above = 0;  // counts above their class's fit max at read-out (none right after a fit)
};

class IdoStage {
 public:
  // noisy_labels: the observed training labels (the mixture's classes).
  IdoStage(const IdoConfig& config, std::vector<int64_t> noisy_labels, int64_t num_classes);

  // Stage 1, after epoch `epoch` (1-based): predictions = the training pass's
  // last prediction per sample. Returns the number that changed since the
  // previous epoch (all visited ones after the first epoch). May choose the
  // base model (copying the weights of `model`).
  int64_t record_stage1_epoch(int64_t epoch, const std::vector<int64_t>& predictions, nn::Module& model);
  // End of stage 1: when the rule never fired, the last epoch's weights are the base.
  void finish_stage1(int64_t last_epoch, nn::Module& model);
  int64_t base_epoch() const { return base_epoch_; }  // 1-based; -1 until chosen
  const std::vector<int64_t>& changed_history() const { return changes_; }
  // Copies the base weights (and BatchNorm buffers) into `model`.
  void load_base(nn::Module& model) const;

  // Fits (iterations of EM from the current fit) the mixture on the wrong-event
  // counts and returns the stage-2 loss with the new per-sample weights.
  std::shared_ptr<optim::IdoLoss> fit(const std::vector<double>& wrong_events, int iterations, Device device,
                                      IdoFitReport* report = nullptr);
  // The loss from the weights of the last fit (after a resume).
  std::shared_ptr<optim::IdoLoss> loss(Device device) const;
  const std::vector<double>& p_clean() const { return p_clean_; }
  const std::vector<double>& epsilon() const { return epsilon_; }

  // Checkpoint: "ido.*" tensors (label-wave history, the base weights under
  // "ido.base.", the mixture, the per-sample weights).
  NamedTensors state_tensors() const;
  void load_state(const NamedTensors& tensors);

 private:
  IdoConfig config_;
  std::vector<int64_t> labels_;
  std::vector<int64_t> previous_;  // last epoch's predictions (-1: none yet)
  std::vector<int64_t> changes_;   // per stage-1 epoch
  int64_t base_epoch_ = -1;
  NamedTensors base_;              // cloned state_dict of the base model
  optim::WrongEventMixture mixture_;
  std::vector<double> p_clean_, epsilon_;
};

}  // namespace basin::apps
