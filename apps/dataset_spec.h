// The --dataset flag of train and eval: which loader reads which files, with
// subset limits, the choice of normalisation constants and the image-folder
// conversions (DatasetOptions, the flags --mean --std --resize --channels).
//   fmnist | fmnist:DIR   Fashion-MNIST IDX files (default: Debian's package dir)
//   cifar10:DIR           data_batch_1..5.bin / test_batch.bin (+ basin-dataset.json
//                         when `basin convert` wrote the folder)
//   cifar100:DIR          train.bin / test.bin
//   folder:DIR            image folders DIR/train/<class>/*, DIR/test/<class>/*
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "data/dataset.h"

namespace basin::apps {

const char* dataset_spec_forms();  // for --help and errors

// How a dataset is read beyond its spec. Its text form (str()) is "auto" or
// "computed" when nothing else is set, else that followed by
// ";mean=A,B,C;std=A,B,C;resize=WxH;channels=N" for the parts set; it travels
// in TrainConfig::normalization and the checkpoint's train.normalization, so a
// run resumes and evaluates with the same settings.
struct DatasetOptions {
  std::string normalization = "auto";  // auto: published constants when known | computed: from the pixels
  std::vector<double> mean, std;       // override (one per channel, or one for all); empty: none
  int resize_width = 0, resize_height = 0;  // folder: 0 = no resampling
  int channels = 0;                         // folder: 0 = 3 when any image has colour, else 1
  std::string str() const;
};
// Throws naming the part that is malformed.
DatasetOptions parse_dataset_options(const std::string& text);

// --mean, --std, --resize, --channels (train also has --normalization).
void declare_dataset_flags(Flags& flags);
// The options the flags give; flags not given keep `base` (eval: the run's).
DatasetOptions dataset_options_from_flags(const Flags& flags, DatasetOptions base = {});

// split: "train" or "test". limit > 0 keeps the first `limit` samples. The
// --mean/--std override replaces the constants last; Dataset::provenance
// then says so.
data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit,
                           const DatasetOptions& options);
// `options` in DatasetOptions' text form ("auto", "computed", ...).
data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit = 0,
                           const std::string& options = "auto");

// "0.5, 0.25, 0.125": constants at 6 significant digits, for log lines.
std::string format_constants(const std::vector<double>& values);

// The constants `override` asks for, for a `channels`-channel dataset: one
// value per channel, or one value for every channel. Throws naming `flag`.
std::vector<double> per_channel(const std::vector<double>& values, int64_t channels, const std::string& flag);

}  // namespace basin::apps
