// Evaluation of a model on a whole dataset split: eval-mode forward (running
// BatchNorm statistics), no autograd, accuracy overall and per class, mean
// cross-entropy, optionally every logit. Shared by `basin train` and `basin eval`.
#pragma once
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/device.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "nn/module.h"

namespace basin::apps {

struct EvalResult {
  int64_t samples = 0, correct = 0;
  double accuracy = 0;  // correct / samples
  double loss = 0;      // mean cross-entropy against the dataset's (clean) labels
  std::vector<int64_t> class_samples, class_correct;
  Tensor logits;        // f32 [N, C] on the CPU when asked for
  Tensor predictions;   // i64 [N] on the CPU

  double class_accuracy(size_t c) const {
    return class_samples[c] ? static_cast<double>(class_correct[c]) / class_samples[c] : 0.0;
  }
};

// Normalisation-only spec from per-channel constants (up to 4 channels).
AugmentSpec normalization_spec(const std::vector<double>& mean, const std::vector<double>& std);

// The model's training mode is restored afterwards.
EvalResult evaluate(nn::Module& model, const data::Dataset& dataset, const AugmentSpec& spec, Device device,
                    int64_t batch_size = 256, bool keep_logits = false);

}  // namespace basin::apps
