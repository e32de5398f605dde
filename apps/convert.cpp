// `basin convert`: IDX data (e.g. Fashion-MNIST) in the CIFAR-10 binary layout
// (1 label byte + 3072 pixel bytes, 28x28 grey zero-padded to 32x32 and
// replicated to RGB), so the CIFAR pipeline can be driven with real images.
// Two modes: one IDX pair -> one .bin file, or a whole Fashion-MNIST directory
// -> data_batch_1..5.bin + test_batch.bin that `--dataset cifar10:DIR` loads.
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/error.h"
#include "data/cifar.h"
#include "data/idx.h"

namespace basin::apps {
namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> out(static_cast<size_t>(end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

}  // namespace

int convert_main(int argc, char** argv) {
  Flags f("convert", "Write IDX images/labels (e.g. Fashion-MNIST) in the CIFAR-10 binary layout.");
  f.section("one IDX pair -> one file");
  f.add("idx-images", "", "IDX image file (raw or .gz)");
  f.add("idx-labels", "", "IDX label file (raw or .gz)");
  f.add("out", "", "output .bin file");
  f.section("a Fashion-MNIST directory -> a CIFAR-10 directory");
  f.add("fmnist", "", "Fashion-MNIST directory (e.g. /usr/share/datasets/fashion-mnist)");
  f.add("out-dir", "", "output directory: data_batch_1..5.bin (train, in 5 equal parts) and test_batch.bin");
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
  std::filesystem::create_directories(out_dir);
  const data::Dataset train = data::load_fashion_mnist("train", limit, f.str("fmnist"));
  const data::Dataset test = data::load_fashion_mnist("test", limit, f.str("fmnist"));
  // The CIFAR-10 loader reads exactly five training files.
  const int64_t n = train.size();
  for (int b = 0; b < 5; ++b) {
    const std::string path = out_dir + "/data_batch_" + std::to_string(b + 1) + ".bin";
    data::write_cifar10_binary(train.subset(range(n * b / 5, n * (b + 1) / 5)), path);
  }
  data::write_cifar10_binary(test, out_dir + "/test_batch.bin");
  std::printf("wrote %lld training images (data_batch_1..5.bin) and %lld test images (test_batch.bin) to %s\n",
              static_cast<long long>(n), static_cast<long long>(test.size()), out_dir.c_str());
  return 0;
}

}  // namespace basin::apps
