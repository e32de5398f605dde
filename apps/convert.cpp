// `basin convert`: IDX data (e.g. Fashion-MNIST) in the CIFAR-10 binary layout
// (1 label byte + 3072 pixel bytes, 28x28 grey zero-padded to 32x32 and
// replicated to RGB), so the CIFAR pipeline can be driven with real images.
// Two modes: one IDX pair -> one .bin file, or a whole Fashion-MNIST directory
// -> data_batch_1..5.bin + test_batch.bin + basin-dataset.json (what the data
// is: class names, constants, asym mapping) that `--dataset cifar10:DIR` loads.
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/error.h"
#include "data/cifar.h"
#include "data/dataset_metadata.h"
#include "data/idx.h"
#include "data/noise.h"

namespace basin::apps {
namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> out(static_cast<size_t>(end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

// What the conversion does to the pixels, for --help and the metadata file.
std::string transform_text(int64_t height, int64_t width, int64_t channels) {
  const int64_t top = (32 - height) / 2, left = (32 - width) / 2;
  return cat("each ", height, "x", width, " image is placed unscaled at row ", top, ", column ", left,
             " of a 32x32 black (0) canvas (zero padding: ", top, " rows above, ", 32 - height - top, " below, ", left,
             " columns left, ", 32 - width - left, " right)",
             channels == 1 ? "; its grey channel is copied to R, G and B" : "; RGB kept",
             "; pixel values are unchanged (uint8)");
}

data::DatasetMetadata fmnist_metadata(const data::Dataset& train, const data::Dataset& test, const std::string& dir) {
  data::DatasetMetadata m;
  m.name = "fashion-mnist";
  m.source = cat("Fashion-MNIST IDX files in ", dir, " (train-images-idx3-ubyte, t10k-images-idx3-ubyte and labels)");
  m.transform = transform_text(train.height(), train.width(), train.channels());
  m.original_height = static_cast<int>(train.height());
  m.original_width = static_cast<int>(train.width());
  m.original_channels = static_cast<int>(train.channels());
  m.class_names = data::fashion_mnist_class_names();
  // The constants of the pixels as written (padding included), which are what
  // the network sees; Fashion-MNIST's published 0.2860/0.3530 are for 28x28.
  const data::Normalization norm = data::compute_normalization(data::cifar_layout(train.images));
  m.mean = norm.mean;
  m.std = norm.std;
  m.normalization_source = cat("computed from the ", train.size(), " converted training images (32x32, padding included)");
  const std::vector<int64_t> targets = data::asym_targets("fashion-mnist", 10);
  for (int64_t c = 0; c < 10; ++c)
    if (targets[c] >= 0) m.asym_noise.emplace_back(c, targets[c]);
  m.train_samples = train.size();
  m.test_samples = test.size();
  return m;
}

}  // namespace

int convert_main(int argc, char** argv) {
  Flags f("convert",
          "Write IDX images/labels (e.g. Fashion-MNIST) in the CIFAR-10 binary layout: per image 1 label byte, then\n"
          "3072 pixel bytes (1024 R, 1024 G, 1024 B, each 32x32 row-major). What is done to the images:\n"
          "  - smaller images are zero-padded, centred, never scaled: 28x28 gets 2 black rows/columns on each side\n"
          "    (an odd margin puts the extra row/column below/right); images over 32x32 are refused;\n"
          "  - a grey image's single channel is copied to R, G and B (3 identical planes);\n"
          "  - pixel values and labels are copied unchanged (labels must fit a byte).\n"
          "Directory mode also writes basin-dataset.json beside the .bin files: source, class names, the mean/std of\n"
          "the written training pixels (padding included), the asym:R class mapping and the image size, which the\n"
          "cifar10:DIR loader uses instead of CIFAR-10's.");
  f.section("one IDX pair -> one file");
  f.add("idx-images", "", "IDX image file (raw or .gz)");
  f.add("idx-labels", "", "IDX label file (raw or .gz)");
  f.add("out", "", "output .bin file");
  f.section("a Fashion-MNIST directory -> a CIFAR-10 directory");
  f.add("fmnist", "", "Fashion-MNIST directory (e.g. /usr/share/datasets/fashion-mnist)");
  f.add("out-dir", "", "output directory: data_batch_1..5.bin (train, in 5 equal parts), test_batch.bin, "
        "basin-dataset.json");
  f.section("both");
  f.add("limit", "0", "convert only the first N images of each split (0: all)");
  if (!f.parse(argc, argv)) return 0;
  const int64_t limit = f.i64("limit");
  BASIN_CHECK(limit >= 0, "flag --limit: must be >= 0, got ", limit);

  const bool pair_mode = !f.str("idx-images").empty() || !f.str("idx-labels").empty() || !f.str("out").empty();
  const bool dir_mode = !f.str("fmnist").empty() || !f.str("out-dir").empty();
  BASIN_CHECK(pair_mode != dir_mode, "give either --idx-images, --idx-labels and --out, or --fmnist and "
              "--out-dir (see basin convert --help)");
  if (pair_mode) {
    BASIN_CHECK(!f.str("idx-images").empty() && !f.str("idx-labels").empty() && !f.str("out").empty(),
                "flags --idx-images, --idx-labels and --out are all required in this mode");
    const data::Dataset ds = data::load_idx(f.str("idx-images"), f.str("idx-labels"), limit);
    data::write_cifar10_binary(ds, f.str("out"));
    std::printf("wrote %lld images (%lldx%lld, %lld channel(s), %d classes) to %s\n",
                static_cast<long long>(ds.size()), static_cast<long long>(ds.height()),
                static_cast<long long>(ds.width()), static_cast<long long>(ds.channels()), ds.num_classes,
                f.str("out").c_str());
    return 0;
  }
  BASIN_CHECK(!f.str("fmnist").empty() && !f.str("out-dir").empty(),
              "flags --fmnist and --out-dir are both required in this mode");
  const std::string out_dir = f.str("out-dir");
  const data::Dataset train = data::load_fashion_mnist("train", limit, f.str("fmnist"));
  const data::Dataset test = data::load_fashion_mnist("test", limit, f.str("fmnist"));
  const data::DatasetMetadata metadata = fmnist_metadata(train, test, f.str("fmnist"));
  std::filesystem::create_directories(out_dir);
  // A metadata file left by an earlier conversion must not describe new files
  // if this one fails half-way; the new one is written last.
  const std::string metadata_path = (std::filesystem::path(out_dir) / data::kDatasetMetadataFile).string();
  std::filesystem::remove(metadata_path);
  // The CIFAR-10 loader reads exactly five training files.
  const int64_t n = train.size();
  for (int b = 0; b < 5; ++b) {
    const std::string path = out_dir + "/data_batch_" + std::to_string(b + 1) + ".bin";
    data::write_cifar10_binary(train.subset(range(n * b / 5, n * (b + 1) / 5)), path);
  }
  data::write_cifar10_binary(test, out_dir + "/test_batch.bin");
  data::write_dataset_metadata(metadata_path, metadata);
  std::printf("wrote %lld training images (data_batch_1..5.bin) and %lld test images (test_batch.bin) to %s\n",
              static_cast<long long>(n), static_cast<long long>(test.size()), out_dir.c_str());
  std::printf("images: %s\n", metadata.transform.c_str());
  std::printf("metadata: %s (mean %.4f, std %.4f per channel, computed from the written training pixels)\n",
              metadata_path.c_str(), metadata.mean[0], metadata.std[0]);
  return 0;
}

}  // namespace basin::apps
