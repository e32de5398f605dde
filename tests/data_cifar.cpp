// CIFAR-10/100 binary readers and the CIFAR-10 writer on files the tests
// write themselves: round trips of known pixels, and every malformed-file
// error naming the file and the byte offset of the problem.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "data/cifar.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::data;
using basin::test::error_message;
using basin::test::TempDir;
using basin::test::write_bytes;

namespace {

struct Records {
  std::vector<uint8_t> bytes;
  std::vector<int> labels, coarse;
};

// n records with random pixels; labels from `label_of(i)`.
template <class F>
Records make_records(int n, int label_bytes, uint32_t seed, F label_of) {
  std::mt19937 rng(seed);
  Records r;
  const int record = label_bytes + 3072;
  r.bytes.resize(static_cast<size_t>(n) * record);
  for (int i = 0; i < n; ++i) {
    uint8_t* rec = r.bytes.data() + static_cast<size_t>(i) * record;
    const int label = label_of(i);
    if (label_bytes == 2) {
      const int coarse = label / 5;
      rec[0] = static_cast<uint8_t>(coarse);
      r.coarse.push_back(coarse);
    }
    rec[label_bytes - 1] = static_cast<uint8_t>(label);
    r.labels.push_back(label);
    for (int k = 0; k < 3072; ++k) rec[label_bytes + k] = static_cast<uint8_t>(1 + rng() % 255);
  }
  return r;
}

void check_same_pixels(const Dataset& ds, int64_t first, const Records& r, int label_bytes) {
  const uint8_t* px = ds.images.data<uint8_t>();
  const int record = label_bytes + 3072;
  const int n = static_cast<int>(r.labels.size());
  int64_t mismatches = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3072; ++k)
      if (px[(first + i) * 3072 + k] != r.bytes[static_cast<size_t>(i) * record + label_bytes + k]) ++mismatches;
  CHECK(mismatches == 0);
  const std::vector<int64_t> y = ds.labels.to_vector<int64_t>();
  for (int i = 0; i < n; ++i) CHECK(y[first + i] == r.labels[i]);
}

}  // namespace

TEST_CASE("data: CIFAR-10 binary round trip of known pixels and labels") {
  TempDir dir;
  std::vector<Records> batches;
  for (int b = 1; b <= 5; ++b) {
    batches.push_back(make_records(3 + b, 1, 100 + b, [b](int i) { return (i * 3 + b) % 10; }));
    write_bytes(dir.file("data_batch_" + std::to_string(b) + ".bin"), batches.back().bytes);
  }
  const Records test = make_records(4, 1, 7, [](int i) { return 9 - i; });
  write_bytes(dir.file("test_batch.bin"), test.bytes);

  const Dataset train = load_cifar10(dir.str(), "train", /*strict=*/false);
  CHECK(train.images.shape() == Shape{4 + 5 + 6 + 7 + 8, 3, 32, 32});
  CHECK(train.num_classes == 10);
  CHECK(train.name == "cifar10");
  CHECK(train.class_names.at(9) == "truck");
  int64_t first = 0;
  for (const Records& r : batches) {
    check_same_pixels(train, first, r, 1);
    first += static_cast<int64_t>(r.labels.size());
  }
  // The real per-channel std (docs/algorithms.md "Datasets, normalisation and augmentation"),
  // not the per-image average.
  REQUIRE(train.std.size() == 3);
  CHECK(train.std[0] == doctest::Approx(0.2470));
  CHECK(train.std[2] == doctest::Approx(0.2616));
  CHECK(train.mean[1] == doctest::Approx(0.4822));

  const Dataset t = load_cifar10(dir.str(), "test", false);
  CHECK(t.size() == 4);
  check_same_pixels(t, 0, test, 1);
  CHECK(error_message([&] { load_cifar10(dir.str(), "valid", false); }).find("split") != std::string::npos);
}

TEST_CASE("data: CIFAR-10 strict mode checks record and per-class counts") {
  TempDir dir;
  const std::string path = dir.file("test_batch.bin");
  Records balanced = make_records(10000, 1, 3, [](int i) { return i % 10; });
  write_bytes(path, balanced.bytes);
  const Dataset ds = load_cifar10(dir.str(), "test", true);
  CHECK(ds.size() == 10000);
  CHECK(class_counts(ds.labels, 10) == std::vector<int64_t>(10, 1000));

  // Record 13 (class 3) relabelled 4: class 4 reaches 1001 at record 9994.
  balanced.bytes[13 * 3073] = 4;
  write_bytes(path, balanced.bytes);
  std::string msg = error_message([&] { load_cifar10(dir.str(), "test", true); });
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("per-class count") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(9994 * 3073)) != std::string::npos, msg);

  // One record short.
  balanced.bytes.resize(9999 * 3073);
  write_bytes(path, balanced.bytes);
  msg = error_message([&] { load_cifar10(dir.str(), "test", true); });
  CHECK_MESSAGE(msg.find("wrong record count") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(9999 * 3073)) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
}

TEST_CASE("data: CIFAR-10 truncated file, size not a multiple, label out of range") {
  TempDir dir;
  const std::string path = dir.file("test_batch.bin");
  Records r = make_records(3, 1, 11, [](int i) { return i; });

  std::vector<uint8_t> cut(r.bytes.begin(), r.bytes.begin() + 2 * 3073 + 100);
  write_bytes(path, cut);
  std::string msg = error_message([&] { load_cifar10(dir.str(), "test", false); });
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 6146") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("not a multiple of the record size 3073") != std::string::npos, msg);

  write_bytes(path, {});
  msg = error_message([&] { load_cifar10(dir.str(), "test", false); });
  CHECK_MESSAGE(msg.find("empty") != std::string::npos, msg);

  r.bytes[2 * 3073] = 10;
  write_bytes(path, r.bytes);
  msg = error_message([&] { load_cifar10(dir.str(), "test", false); });
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 6146") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("label 10") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("out of range") != std::string::npos, msg);

  std::filesystem::remove(path);
  msg = error_message([&] { load_cifar10(dir.str(), "test", false); });
  CHECK_MESSAGE(msg.find("not found") != std::string::npos, msg);
}

TEST_CASE("data: CIFAR-100 binary round trip with coarse labels, and its errors") {
  TempDir dir;
  const Records train = make_records(9, 2, 21, [](int i) { return (i * 37) % 100; });
  write_bytes(dir.file("train.bin"), train.bytes);
  const Dataset ds = load_cifar100(dir.str(), "train", false);
  CHECK(ds.images.shape() == Shape{9, 3, 32, 32});
  CHECK(ds.num_classes == 100);
  CHECK(ds.class_names.size() == 100);
  CHECK(ds.class_names[0] == "apple");
  CHECK(ds.class_names[99] == "worm");
  check_same_pixels(ds, 0, train, 2);
  REQUIRE(ds.coarse_labels.defined());
  const std::vector<int64_t> coarse = ds.coarse_labels.to_vector<int64_t>();
  for (int i = 0; i < 9; ++i) CHECK(coarse[i] == train.coarse[i]);
  CHECK(ds.std[1] == doctest::Approx(0.2564));

  Records bad = train;
  bad.bytes[3 * 3074 + 1] = 100;  // fine label of record 3
  const std::string path = dir.file("train.bin");
  write_bytes(path, bad.bytes);
  std::string msg = error_message([&] { load_cifar100(dir.str(), "train", false); });
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(3 * 3074 + 1)) != std::string::npos, msg);

  bad = train;
  bad.bytes[5 * 3074] = 20;  // coarse label of record 5
  write_bytes(path, bad.bytes);
  msg = error_message([&] { load_cifar100(dir.str(), "train", false); });
  CHECK_MESSAGE(msg.find("coarse label 20") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(5 * 3074)) != std::string::npos, msg);

  bad.bytes.resize(3074 * 9 - 1);
  write_bytes(path, bad.bytes);
  msg = error_message([&] { load_cifar100(dir.str(), "train", false); });
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(8 * 3074)) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("record size 3074") != std::string::npos, msg);

  // Strict: train.bin must hold 50000 records.
  write_bytes(path, train.bytes);
  msg = error_message([&] { load_cifar100(dir.str(), "train", true); });
  CHECK_MESSAGE(msg.find("expected 50000") != std::string::npos, msg);
}

TEST_CASE("data: write_cifar10_binary round trip, and 1-channel images padded and replicated") {
  TempDir dir;
  std::mt19937 rng(5);
  Dataset rgb;
  rgb.images = empty({4, 3, 32, 32}, DType::U8);
  rgb.labels = empty({4}, DType::I64);
  for (int64_t k = 0; k < rgb.images.numel(); ++k) rgb.images.data<uint8_t>()[k] = static_cast<uint8_t>(rng());
  for (int i = 0; i < 4; ++i) rgb.labels.data<int64_t>()[i] = 7 - i;
  rgb.num_classes = 10;
  const std::string path = dir.file("rgb.bin");
  write_cifar10_binary(rgb, path);
  CHECK(std::filesystem::file_size(path) == 4u * 3073u);
  const Dataset back = load_cifar10_file(path);
  CHECK(back.images.shape() == rgb.images.shape());
  CHECK(back.images.to_vector<uint8_t>() == rgb.images.to_vector<uint8_t>());
  CHECK(back.labels.to_vector<int64_t>() == rgb.labels.to_vector<int64_t>());
  // Written through a temp file and renamed: nothing else is left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) entries += e.is_regular_file();
  CHECK(entries == 1);

  Dataset grey;
  grey.images = empty({3, 1, 28, 28}, DType::U8);
  grey.labels = empty({3}, DType::I64);
  for (int64_t k = 0; k < grey.images.numel(); ++k) grey.images.data<uint8_t>()[k] = static_cast<uint8_t>(1 + rng() % 255);
  for (int i = 0; i < 3; ++i) grey.labels.data<int64_t>()[i] = i + 4;
  grey.num_classes = 10;
  const std::string grey_path = dir.file("grey.bin");
  write_cifar10_binary(grey, grey_path);
  const Dataset padded = load_cifar10_file(grey_path, "converted");
  REQUIRE(padded.images.shape() == Shape{3, 3, 32, 32});
  const uint8_t* out = padded.images.data<uint8_t>();
  const uint8_t* in = grey.images.data<uint8_t>();
  int64_t bad = 0;
  for (int i = 0; i < 3; ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          const uint8_t want = inside ? in[(i * 28 + (y - 2)) * 28 + (x - 2)] : 0;
          if (out[((i * 3 + c) * 32 + y) * 32 + x] != want) ++bad;
        }
  CHECK(bad == 0);
  CHECK(padded.labels.to_vector<int64_t>() == std::vector<int64_t>{4, 5, 6});
  // Not a standard dataset: the constants come from the data.
  CHECK(padded.mean.size() == 3);
  CHECK(padded.mean[0] != doctest::Approx(0.4914));

  grey.labels.data<int64_t>()[1] = 300;
  const std::string msg = error_message([&] { write_cifar10_binary(grey, dir.file("bad.bin")); });
  CHECK_MESSAGE(msg.find("300") != std::string::npos, msg);
  CHECK(!std::filesystem::exists(dir.file("bad.bin")));
}
