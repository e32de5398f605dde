// Label-noise injection (docs/algorithms.md "Label-noise protocols"): a pure
// function of (clean labels, spec, seed) that returns noisy labels beside the
// clean ones, with the realised rate and the clean->noisy transition counts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"

namespace basin::data {

struct NoisyLabels {
  Tensor noisy;                     // i64 [N], CPU
  double realised_rate = 0.0;       // fraction of samples whose label changed
  int64_t changed = 0;              // how many
  int num_classes = 0;
  std::vector<int64_t> transition;  // num_classes x num_classes counts, row = clean, col = noisy
  std::string spec;
  uint64_t seed = 0;

  int64_t count(int64_t clean, int64_t noisy_label) const {
    return transition[clean * num_classes + noisy_label];
  }
};

struct NoiseSpec {
  std::string kind;  // none sym symflip asym asym-super pair inst file
  double rate = 0.0;
  std::string path;  // file:PATH
};

// The accepted spec forms, for messages and --help.
const char* noise_spec_forms();
// Throws listing the accepted forms when `spec` is none of them.
NoiseSpec parse_noise_spec(const std::string& spec);

NoisyLabels apply_noise(const Dataset& dataset, const std::string& spec, uint64_t seed);

// asym:r's class mapping for a dataset (by name: cifar10, cifar100,
// fashion-mnist): target[c] is the class c flips to, or -1 when c never flips.
std::vector<int64_t> asym_targets(const std::string& dataset_name, int num_classes);
// The mapping asym:r uses for this dataset: the one its data states
// (Dataset::asym_targets, from basin-dataset.json), else asym_targets(name).
std::vector<int64_t> dataset_asym_targets(const Dataset& dataset);
// asym-super:r's mapping: the next fine class within the same coarse class
// (sorted, cyclic), from the dataset's coarse labels.
std::vector<int64_t> superclass_targets(const Dataset& dataset);

// Human-readable summary: spec, seed, realised rate, and the transition matrix
// (full for up to 20 classes, else only the off-diagonal entries).
std::string format_noise_report(const NoisyLabels& noise, const std::vector<std::string>& class_names = {});

// One label per line, the format file:PATH reads.
void write_label_file(const std::string& path, const Tensor& labels);

}  // namespace basin::data
