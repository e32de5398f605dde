// --dataset spec -> data loaders; see dataset_spec.h.
#include "apps/dataset_spec.h"

#include <filesystem>
#include <numeric>
#include <vector>

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

data::Dataset load_dataset(const std::string& spec, const std::string& split, int64_t limit,
                           const std::string& normalization) {
  BASIN_CHECK(split == "train" || split == "test", "dataset split must be train or test, got '", split, "'");
  BASIN_CHECK(normalization == "auto" || normalization == "computed",
              "normalization must be auto or computed, got '", normalization, "'");
  BASIN_CHECK(limit >= 0, "dataset limit must be >= 0, got ", limit);
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
  data::Dataset ds;
  if (kind == "fmnist" || kind == "fashion-mnist") {
    ds = data::load_fashion_mnist(split, limit, dir.empty() ? data::kFashionMnistDir : dir);
  } else {
    BASIN_CHECK(!dir.empty(), "dataset '", spec, "': expected one of ", dataset_spec_forms());
    if (kind == "cifar10") {
      ds = data::load_cifar10(dir, split, canonical_cifar10(dir, split));
    } else if (kind == "cifar100") {
      ds = data::load_cifar100(dir, split, canonical_cifar100(dir, split));
    } else if (kind == "folder") {
      const std::string root = dir + "/" + split;
      BASIN_CHECK(std::filesystem::is_directory(root), "dataset '", spec, "': folder '", root,
                  "' not found (folder:DIR expects DIR/train/<class>/ and DIR/test/<class>/)");
      ds = data::load_image_folder(root);
    } else {
      fail(cat("unknown dataset '", spec, "': expected one of ", dataset_spec_forms()));
    }
  }
  if (limit > 0 && ds.size() > limit) {
    std::vector<int64_t> first(static_cast<size_t>(limit));
    std::iota(first.begin(), first.end(), int64_t{0});
    ds = ds.subset(first);
  }
  if (normalization == "computed") {
    const data::Normalization norm = data::compute_normalization(ds.images);
    ds.mean = norm.mean;
    ds.std = norm.std;
  }
  ds.validate();
  return ds;
}

}  // namespace basin::apps
