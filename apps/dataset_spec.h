// The --dataset flag of train and eval: which loader reads which files, with
// subset limits and the choice of normalisation constants.
//   fmnist | fmnist:DIR   Fashion-MNIST IDX files (default: Debian's package dir)
//   cifar10:DIR           data_batch_1..5.bin / test_batch.bin
//   cifar100:DIR          train.bin / test.bin
//   folder:DIR            image folders DIR/train/<class>/*, DIR/test/<class>/*
#pragma once
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace basin::apps {

const char* dataset_spec_forms();  // for --help and errors

// split: "train" or "test". limit > 0 keeps the first `limit` samples.
// normalization: "auto" (the dataset's published constants when it has them,
// else computed from the loaded pixels) or "computed" (always from the pixels).
data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit = 0,
                           const std::string& normalization = "auto");

}  // namespace basin::apps
