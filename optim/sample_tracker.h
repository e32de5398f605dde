// SampleTracker: per training sample statistics gathered from the forward
// passes training already does (no extra pass): wrong events, EMA of the
// probability of the trained-on label, last loss, last prediction. CA-SAM
// reads it for its clean/noisy split; apps log it (memorisation curves).
// Arrays live on the training device; updates are a few gathers and scatters.
#pragma once
#include <cstdint>
#include <vector>

#include "core/safetensors.h"
#include "core/tensor.h"

namespace basin::optim {

class SampleTracker {
 public:
  SampleTracker() = default;
  // num_samples: training-set size (indices run over [0, num_samples)).
  // ema_beta: ema <- beta*ema + (1-beta)*p on every visit after the first (the first sets ema = p).
  SampleTracker(int64_t num_samples, Device device, double ema_beta = 0.9);

  // One batch of pass-1 (train-mode) outputs: indices i64 [B] (dataset indices,
  // distinct within the batch), logits [B, C] floating, labels i64 [B] (the
  // labels trained on, possibly noisy). All on the tracker's device.
  //   wrong_events[i] += (argmax logits_i != label_i)
  //   ema[i] = EMA of p(label_i | x_i) = softmax(logits_i)[label_i]
  //   last_loss[i] = -log p(label_i | x_i);  last_prediction[i] = argmax logits_i
  void update(const Tensor& indices, const Tensor& logits, const Tensor& labels);

  int64_t size() const { return num_samples_; }
  Device device() const { return device_; }
  double ema_beta() const { return ema_beta_; }

  // Device tensors [N] (fresh copies in the stated dtype).
  Tensor wrong_events() const;     // i32
  Tensor visits() const;           // i32, number of updates that included the sample
  Tensor ema_confidence() const;   // f32, 0 before the first visit
  Tensor last_loss() const;        // f32, 0 before the first visit
  Tensor last_prediction() const;  // i64, -1 before the first visit
  Tensor last_label() const;       // i64, the label of the last visit, -1 before

  // Host copies, for fits and statistics.
  std::vector<double> wrong_event_values() const;
  std::vector<double> visit_values() const;
  std::vector<double> ema_values() const;
  std::vector<double> last_loss_values() const;
  std::vector<double> last_label_values() const;

  // Checkpoint: "<prefix>wrong_events" (i32), "visits" (i32), "ema" (f32),
  // "last_loss" (f32), "last_prediction" (i64), "last_label" (i64), "ema_beta" (f64 []).
  NamedTensors state_tensors(const std::string& prefix = "tracker.") const;
  // Restores from tensors named as above (extra names are ignored); throws
  // basin::Error naming a missing tensor or a size mismatch.
  void load_state(const NamedTensors& tensors, const std::string& prefix = "tracker.");

 private:
  int64_t num_samples_ = 0;
  Device device_;
  double ema_beta_ = 0.9;
  // f32 [N] each: scatter-add is a floating kernel, and counts stay exact below 2^24.
  Tensor wrong_, visits_, ema_, loss_, prediction_, label_;
};

// How well a predicted clean mask matches the truth, and how well the wrong-event
// counts rank noisy above clean samples.
struct SplitQuality {
  double precision = 0;  // |predicted clean and truly clean| / |predicted clean|
  double recall = 0;     // |predicted clean and truly clean| / |truly clean|
  double auc = 0;        // P(wrong events of a noisy sample > those of a clean one), ties count 1/2
  int64_t predicted_clean = 0, true_clean = 0;
};

// predicted_clean / true_clean: 0/1 per sample; scores: higher = more likely noisy
// (e.g. wrong-event counts). AUC is rank-based (mid-ranks for ties); NaN when one class is empty.
SplitQuality split_quality(const std::vector<uint8_t>& predicted_clean,
                           const std::vector<uint8_t>& true_clean,
                           const std::vector<double>& scores);

// Rank-based AUC of `scores` separating positives (label 1) from negatives (label 0).
double rank_auc(const std::vector<double>& scores, const std::vector<uint8_t>& positive);

// How well two per-sample statistics flag the wrong labels (noisy != clean),
// over the samples visited at least once: the AUC of the wrong-event counts
// and the AUC of the last training-pass loss (Zhang et al. 2025's comparison).
// NaN when the visited samples hold no wrong or no right label.
struct NoisyLabelAuc {
  double wrong_events = 0, loss = 0;
};
NoisyLabelAuc noisy_label_auc(const std::vector<double>& wrong_events, const std::vector<double>& last_loss,
                              const std::vector<double>& visits, const std::vector<int64_t>& noisy,
                              const std::vector<int64_t>& clean);

}  // namespace basin::optim
