// --dataset spec -> data loaders; see dataset_spec.h.
#include "apps/dataset_spec.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <vector>

#include "apps/checkpoint.h"
#include "core/error.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"

namespace basin::apps {
namespace {

// The canonical CIFAR files are loaded strictly (record and class counts, docs/algorithms.md "Datasets");
// other sizes (e.g. Fashion-MNIST written by `basin convert`) are read as whole records.
bool canonical_cifar10(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  const int64_t file_bytes = 10000 * (1 + 3072);
  std::vector<std::string> files;
  if (split == "train")
    for (int b = 1; b <= 5; ++b) files.push_back(dir + "/data_batch_" + std::to_string(b) + ".bin");
  else
    files.push_back(dir + "/test_batch.bin");
  for (const auto& f : files) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec) || static_cast<int64_t>(fs::file_size(f, ec)) != file_bytes) return false;
  }
  return true;
}

bool canonical_cifar100(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  const std::string f = dir + (split == "train" ? "/train.bin" : "/test.bin");
  const int64_t records = split == "train" ? 50000 : 10000;
  std::error_code ec;
  return fs::is_regular_file(f, ec) && static_cast<int64_t>(fs::file_size(f, ec)) == records * (2 + 3072);
}

}  // namespace

const char* dataset_spec_forms() {
  return "fmnist | fmnist:DIR | cifar10:DIR | cifar100:DIR | folder:DIR (DIR/train, DIR/test)";
}

namespace {


std::vector<double> parse_constants(const std::string& text, const std::string& flag, bool positive) {
  const std::vector<double> v = split_doubles(text, "flag " + flag);
  for (double x : v)
    BASIN_CHECK(std::isfinite(x) && (positive ? x > 0 : true), "flag ", flag, ": ", x, " is not ",
                positive ? "a positive number" : "a finite number", " (values in [0, 1] pixel units, comma-separated)");
  return v;
}

void parse_resize(const std::string& text, DatasetOptions& o) {
  const size_t x = text.find('x');
  char* end1 = nullptr;
  char* end2 = nullptr;
  const long w = x == std::string::npos ? 0 : std::strtol(text.c_str(), &end1, 10);
  const long h = x == std::string::npos ? 0 : std::strtol(text.c_str() + x + 1, &end2, 10);
  BASIN_CHECK(x != std::string::npos && end1 == text.c_str() + x && *end2 == '\0' && w > 0 && h > 0 && w <= 16384 &&
                  h <= 16384,
              "flag --resize: expected WIDTHxHEIGHT in pixels (e.g. 32x32), got '", text, "'");
  o.resize_width = static_cast<int>(w);
  o.resize_height = static_cast<int>(h);
}

void parse_channels(const std::string& text, DatasetOptions& o) {
  BASIN_CHECK(text == "0" || text == "1" || text == "3", "flag --channels: expected 1 or 3 (0: automatic), got '",
              text, "'");
  o.channels = std::atoi(text.c_str());
}

}  // namespace

std::string DatasetOptions::str() const {
  std::string out = normalization;
  if (!mean.empty()) out += ";mean=" + join_doubles(mean);
  if (!std.empty()) out += ";std=" + join_doubles(std);
  if (resize_width > 0) out += cat(";resize=", resize_width, "x", resize_height);
  if (channels > 0) out += cat(";channels=", channels);
  return out;
}

DatasetOptions parse_dataset_options(const std::string& text) {
  DatasetOptions o;
  size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(';', start), text.size());
    const std::string part = text.substr(start, end - start);
    start = end + 1;
    if (first) {
      BASIN_CHECK(part == "auto" || part == "computed", "normalization must be auto or computed, got '", part,
                  "' (in dataset options '", text, "')");
      o.normalization = part;
      first = false;
      continue;
    }
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (key == "mean") o.mean = parse_constants(value, "--mean", false);
    else if (key == "std") o.std = parse_constants(value, "--std", true);
    else if (key == "resize") parse_resize(value, o);
    else if (key == "channels") parse_channels(value, o);
    else fail(cat("dataset options '", text, "': unknown part '", part, "' (mean=, std=, resize=, channels=)"));
  }
  return o;
}

void declare_dataset_flags(Flags& f) {
  f.add("mean", "", "per-channel mean to normalise with, comma-separated in [0, 1] pixel units, or one value for "
        "every channel (default: the dataset's constants)");
  f.add("std", "", "per-channel std to normalise with, like --mean (default: the dataset's constants)");
  f.add("resize", "", "folder:DIR only: resample every image to WIDTHxHEIGHT with stb_image_resize (default: no "
        "resampling, every image must have the first image's size)");
  f.add("channels", "0", "folder:DIR only: 1 (grey; colour images reduced to luma) or 3 (RGB; grey images "
        "replicated); 0: 3 when any image has colour, else 1");
}

DatasetOptions dataset_options_from_flags(const Flags& f, DatasetOptions o) {
  if (f.has("normalization")) {
    const std::string mode = f.str("normalization");
    BASIN_CHECK(mode == "auto" || mode == "computed", "flag --normalization: expected auto or computed, got '", mode,
                "'");
    o.normalization = mode;
  }
  if (!f.str("mean").empty()) o.mean = parse_constants(f.str("mean"), "--mean", false);
  if (!f.str("std").empty()) o.std = parse_constants(f.str("std"), "--std", true);
  if (!f.str("resize").empty()) parse_resize(f.str("resize"), o);
  if (f.given("channels") || f.str("channels") != "0") parse_channels(f.str("channels"), o);
  return o;
}

std::string format_constants(const std::vector<double>& values) {
  std::string out;
  for (double x : values) out += (out.empty() ? "" : ", ") + cat(x);
  return out;
}

std::vector<double> per_channel(const std::vector<double>& values, int64_t channels, const std::string& flag) {
  if (values.size() == 1) return std::vector<double>(static_cast<size_t>(channels), values[0]);
  BASIN_CHECK(values.size() == static_cast<size_t>(channels), "flag ", flag, ": ", values.size(),
              " values for a ", channels, "-channel dataset (give one per channel, or one for every channel)");
  return values;
}

data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit,
                           const std::string& options) {
  return load_dataset(spec, split, limit, parse_dataset_options(options));
}

data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit,
                           const DatasetOptions& options) {
  BASIN_CHECK(split == "train" || split == "test", "dataset split must be train or test, got '", split, "'");
  BASIN_CHECK(options.normalization == "auto" || options.normalization == "computed",
              "normalization must be auto or computed, got '", options.normalization, "'");
  BASIN_CHECK(limit >= 0, "dataset limit must be >= 0, got ", limit);
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const bool folder = kind == "folder";
  BASIN_CHECK(folder || (options.resize_width == 0 && options.channels == 0), "dataset '", spec,
              "': --resize and --channels apply to folder:DIR datasets only");
  data::Dataset ds;
  if (kind == "fmnist" || kind == "fashion-mnist") {
    ds = data::load_fashion_mnist(split, limit, dir.empty() ? data::kFashionMnistDir : dir);
    ds.provenance = cat("Fashion-MNIST from ", ds.source, ": its class names, asym mapping and published mean [",
                        format_constants(ds.mean), "], std [", format_constants(ds.std), "]");
  } else {
    BASIN_CHECK(!dir.empty(), "dataset '", spec, "': expected one of ", dataset_spec_forms());
    if (kind == "cifar10") {
      ds = data::load_cifar10(dir, split, canonical_cifar10(dir, split));
    } else if (kind == "cifar100") {
      ds = data::load_cifar100(dir, split, canonical_cifar100(dir, split));
    } else if (folder) {
      const std::string root = dir + "/" + split;
      BASIN_CHECK(std::filesystem::is_directory(root), "dataset '", spec, "': folder '", root,
                  "' not found (folder:DIR expects DIR/train/<class>/ and DIR/test/<class>/)");
      data::ImageFolderOptions fo;
      fo.width = options.resize_width;
      fo.height = options.resize_height;
      fo.channels = options.channels;
      ds = data::load_image_folder(root, fo);
    } else {
      fail(cat("unknown dataset '", spec, "': expected one of ", dataset_spec_forms()));
    }
  }
  if (limit > 0 && ds.size() > limit) {
    std::vector<int64_t> first(static_cast<size_t>(limit));
    std::iota(first.begin(), first.end(), int64_t{0});
    ds = ds.subset(first);
  }
  if (options.normalization == "computed") {
    const data::Normalization norm = data::compute_normalization(ds.images);
    ds.mean = norm.mean;
    ds.std = norm.std;
    ds.provenance += cat("; normalisation computed from the ", ds.size(), " loaded images: mean [",
                         format_constants(ds.mean), "], std [", format_constants(ds.std), "]");
  }
  if (!options.mean.empty()) ds.mean = per_channel(options.mean, ds.channels(), "--mean");
  if (!options.std.empty()) ds.std = per_channel(options.std, ds.channels(), "--std");
  if (!options.mean.empty() || !options.std.empty())
    ds.provenance += cat("; normalised with mean [", format_constants(ds.mean), "], std [", format_constants(ds.std), "] (",
                         !options.mean.empty() && !options.std.empty() ? "--mean and --std"
                         : !options.mean.empty()                       ? "--mean"
                                                                       : "--std",
                         " given)");
  ds.validate();
  return ds;
}

}  // namespace basin::apps
