// Dataset: a whole labelled image set held in host memory as uint8 NCHW, with
// the clean labels, optional coarse labels (CIFAR-100) and the per-channel
// normalisation constants that augmentation and checkpoints use.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace basin::data {

struct Dataset {
  Tensor images;         // u8 [N, C, H, W], CPU, contiguous
  Tensor labels;         // i64 [N], clean labels in [0, num_classes)
  Tensor coarse_labels;  // i64 [N] (CIFAR-100 superclasses) or undefined
  int num_classes = 0;
  std::vector<std::string> class_names;
  std::string name;    // "cifar10", "cifar100", "fashion-mnist", "idx", "folder:<dir>" ...
  std::string source;  // the file or directory it came from
  // Per-channel normalisation in [0, 1] pixel units; one entry per channel.
  std::vector<double> mean, std;
  // asym:R's class mapping (target class per class, -1: never flips) when the
  // data states it (basin-dataset.json); unset: the built-in table for `name`;
  // an empty vector: the data says it has no mapping.
  std::optional<std::vector<int64_t>> asym_targets;
  // Where the class names, normalisation constants and noise mapping came
  // from, one line for the run's log (empty when there is nothing to say).
  std::string provenance;

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }

  // The samples at `indices` (each in [0, N)), in that order; constants kept.
  Dataset subset(const std::vector<int64_t>& indices) const;
  // Throws when the tensors disagree with each other (shapes, dtypes, label range).
  void validate() const;
};

struct Normalization {
  std::vector<double> mean, std;
};

// The published constants for "cifar10", "cifar100", "fashion-mnist" (real
// per-channel std, not the per-image average; docs/algorithms.md "Datasets,
// normalisation and augmentation"). Throws for other names.
Normalization standard_normalization(const std::string& dataset_name);
bool has_standard_normalization(const std::string& dataset_name);
// Per-channel mean and (population) std of the pixels in [0, 1] units.
Normalization compute_normalization(const Tensor& u8_images);

// Per-class sample counts of an i64 label tensor.
std::vector<int64_t> class_counts(const Tensor& labels, int num_classes);

}  // namespace basin::data
