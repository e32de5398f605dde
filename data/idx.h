// IDX files (the MNIST family): big-endian headers with magic 0x00000803 for
// uint8 images [N, rows, cols] and 0x00000801 for uint8 labels [N], raw or
// gzip'd; plus the Fashion-MNIST convenience loader over Debian's files.
#pragma once
#include <string>

#include "data/dataset.h"

namespace basin::data {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Images and labels from a pair of IDX files. limit > 0 keeps the first
// `limit` samples (and reads only that much). num_classes = 0 infers it as the
// largest label + 1; otherwise labels outside [0, num_classes) are errors.
// The dataset is named `name`; its normalisation is computed from the data
// unless `name` has standard constants.
Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 int64_t limit = 0, int num_classes = 0, const std::string& name = "idx");

// Fashion-MNIST from `dir` (default: Debian's dataset-fashion-mnist package),
// split "train" (60000) or "test" (10000). Without limit the counts are checked.
Dataset load_fashion_mnist(const std::string& split, int64_t limit = 0,
                           const std::string& dir = kFashionMnistDir);

const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace basin::data
