// basin-dataset.json: what a folder of converted data is (source, class names,
// normalisation constants, the asym:R class mapping, image geometry), written
// by `basin convert` beside the CIFAR-layout files and read by the CIFAR-10
// loader so a converted set is not mistaken for CIFAR-10.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace basin::data {

constexpr const char* kDatasetMetadataFile = "basin-dataset.json";
constexpr const char* kDatasetMetadataFormat = "basin-dataset-1";

struct DatasetMetadata {
  std::string name;       // becomes Dataset::name, e.g. "fashion-mnist"
  std::string source;     // where the images came from
  std::string transform;  // what was done to them (padding, grey -> RGB), for people
  int height = 32, width = 32, channels = 3;  // as stored
  int original_height = 0, original_width = 0, original_channels = 0;  // 0: not recorded
  std::vector<std::string> class_names;  // one per class; their count is num_classes
  std::vector<double> mean, std;         // per stored channel, [0, 1] pixel units
  std::string normalization_source;      // how mean/std were obtained
  // asym:R's mapping as (clean, noisy) class pairs; empty: no mapping (null in the file).
  std::vector<std::pair<int64_t, int64_t>> asym_noise;
  int64_t train_samples = -1, test_samples = -1;  // -1: not recorded

  // target[c] = the class c flips to under asym:R, or -1.
  std::vector<int64_t> asym_targets() const;
};

// Written to a temporary file and renamed. Throws when the metadata is
// inconsistent (the same checks the reader makes).
void write_dataset_metadata(const std::string& path, const DatasetMetadata& metadata);
// Strict: unknown or missing fields, wrong types, and inconsistent values are
// errors naming the file and the field.
DatasetMetadata read_dataset_metadata(const std::string& path);

// Applies the metadata to a dataset loaded from the files it describes
// (class names, name, constants, asym mapping, provenance); `path` is the
// metadata file, named in errors and in the provenance line.
void apply_dataset_metadata(Dataset& dataset, const DatasetMetadata& metadata, const std::string& path,
                            const std::string& split);

}  // namespace basin::data
