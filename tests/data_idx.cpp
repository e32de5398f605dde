// IDX reader on raw and gzip'd files written by the test, its header and count
// checks, and the Fashion-MNIST loader on Debian's files when installed.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "data/idx.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::data;
using basin::test::error_message;
using basin::test::TempDir;
using basin::test::write_bytes;

namespace {

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& px) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, n);
  put_be32(out, rows);
  put_be32(out, cols);
  out.insert(out.end(), px.begin(), px.end());
  return out;
}

std::vector<uint8_t> idx_labels(uint32_t n, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> out;
  put_be32(out, 0x00000801);
  put_be32(out, n);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

struct Sample {
  std::vector<uint8_t> pixels, labels;
};

Sample make_sample(int n, int rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  Sample s;
  for (int k = 0; k < n * rows * cols; ++k) s.pixels.push_back(static_cast<uint8_t>(rng()));
  for (int i = 0; i < n; ++i) s.labels.push_back(static_cast<uint8_t>(rng() % 10));
  return s;
}

void check_matches(const Dataset& ds, const Sample& s, int n, int rows, int cols) {
  REQUIRE(ds.images.shape() == Shape{n, 1, rows, cols});
  const std::vector<uint8_t> px = ds.images.to_vector<uint8_t>();
  CHECK(std::equal(px.begin(), px.end(), s.pixels.begin()));
  const std::vector<int64_t> y = ds.labels.to_vector<int64_t>();
  for (int i = 0; i < n; ++i) CHECK(y[i] == s.labels[i]);
}

}  // namespace

TEST_CASE("data: IDX raw and gzip'd files give the same known pixels and labels") {
  TempDir dir;
  const int n = 7, rows = 5, cols = 4;
  const Sample s = make_sample(n, rows, cols, 9);
  write_bytes(dir.file("img"), idx_images(0x803, n, rows, cols, s.pixels));
  write_bytes(dir.file("lab"), idx_labels(n, s.labels));
  write_gzip(dir.file("img.gz"), idx_images(0x803, n, rows, cols, s.pixels));
  write_gzip(dir.file("lab.gz"), idx_labels(n, s.labels));

  const Dataset raw = load_idx(dir.file("img"), dir.file("lab"), 0, 10, "digits");
  check_matches(raw, s, n, rows, cols);
  CHECK(raw.num_classes == 10);
  CHECK(raw.name == "digits");
  // Normalisation from the data: compare with a plain loop.
  double sum = 0, sum_sq = 0;
  for (uint8_t v : s.pixels) {
    sum += v / 255.0;
    sum_sq += (v / 255.0) * (v / 255.0);
  }
  const double mean = sum / s.pixels.size();
  CHECK(raw.mean.at(0) == doctest::Approx(mean).epsilon(1e-9));
  CHECK(raw.std.at(0) == doctest::Approx(std::sqrt(sum_sq / s.pixels.size() - mean * mean)).epsilon(1e-9));

  const Dataset gz = load_idx(dir.file("img.gz"), dir.file("lab.gz"), 0, 10);
  check_matches(gz, s, n, rows, cols);

  // limit keeps the first samples, also from a gzip stream.
  const Dataset first3 = load_idx(dir.file("img.gz"), dir.file("lab.gz"), 3, 10);
  Sample s3 = s;
  s3.pixels.resize(3 * rows * cols);
  s3.labels.resize(3);
  check_matches(first3, s3, 3, rows, cols);

  // num_classes = 0 infers the class count.
  const Dataset inferred = load_idx(dir.file("img"), dir.file("lab"));
  CHECK(inferred.num_classes == *std::max_element(s.labels.begin(), s.labels.end()) + 1);
}

TEST_CASE("data: IDX wrong magic, count mismatch, truncation, label range") {
  TempDir dir;
  const int n = 6, rows = 3, cols = 3;
  const Sample s = make_sample(n, rows, cols, 4);
  const std::string img = dir.file("img"), lab = dir.file("lab");
  write_bytes(lab, idx_labels(n, s.labels));

  write_bytes(img, idx_images(0x801, n, rows, cols, s.pixels));
  std::string msg = error_message([&] { load_idx(img, lab, 0, 10); });
  CHECK_MESSAGE(msg.find(img) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("wrong magic") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 0") != std::string::npos, msg);

  // Magic check through gzip too.
  write_gzip(img + ".gz", idx_images(0x802, n, rows, cols, s.pixels));
  msg = error_message([&] { load_idx(img + ".gz", lab, 0, 10); });
  CHECK_MESSAGE(msg.find("wrong magic") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("gzip") != std::string::npos, msg);

  write_bytes(img, idx_images(0x803, n, rows, cols, s.pixels));
  std::vector<uint8_t> five(s.labels.begin(), s.labels.begin() + 5);
  write_bytes(lab, idx_labels(5, five));
  msg = error_message([&] { load_idx(img, lab, 0, 10); });
  CHECK_MESSAGE(msg.find("count mismatch") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find(lab) != std::string::npos, msg);

  // Image data ends inside item 4 (header 16 bytes, 9 bytes per item).
  write_bytes(lab, idx_labels(n, s.labels));
  std::vector<uint8_t> cut = idx_images(0x803, n, rows, cols, s.pixels);
  cut.resize(16 + 4 * 9 + 5);
  write_bytes(img, cut);
  msg = error_message([&] { load_idx(img, lab, 0, 10); });
  CHECK_MESSAGE(msg.find("truncated") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(16 + 4 * 9)) != std::string::npos, msg);

  // Trailing bytes after the announced items.
  std::vector<uint8_t> extra = idx_images(0x803, n, rows, cols, s.pixels);
  extra.push_back(1);
  write_bytes(img, extra);
  msg = error_message([&] { load_idx(img, lab, 0, 10); });
  CHECK_MESSAGE(msg.find("byte offset " + std::to_string(16 + 6 * 9)) != std::string::npos, msg);

  // Label out of range: first label >= 3 names its byte (header 8 bytes).
  write_bytes(img, idx_images(0x803, n, rows, cols, s.pixels));
  std::vector<uint8_t> labels = {0, 1, 2, 7, 1, 0};
  write_bytes(lab, idx_labels(n, labels));
  msg = error_message([&] { load_idx(img, lab, 0, 3); });
  CHECK_MESSAGE(msg.find("label 7") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 11") != std::string::npos, msg);

  msg = error_message([&] { load_idx(dir.file("missing"), lab, 0, 3); });
  CHECK_MESSAGE(msg.find("not found") != std::string::npos, msg);
}

TEST_CASE("data: Fashion-MNIST loader checks the counts the format fixes") {
  TempDir dir;
  const int n = 10000;
  std::vector<uint8_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(0x803, n, 28, 28, std::vector<uint8_t>(n * 28 * 28, 3)));
  write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), idx_labels(n, labels));
  const Dataset ok = load_fashion_mnist("test", 0, dir.str());
  CHECK(ok.size() == n);
  CHECK(ok.labels.to_vector<int64_t>()[13] == 3);
  // Sample 13 relabelled 4: class 4 reaches 1001 at sample 9994, byte 8 + 9994.
  labels[13] = 4;
  write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), idx_labels(n, labels));
  const std::string msg = error_message([&] { load_fashion_mnist("test", 0, dir.str()); });
  CHECK_MESSAGE(msg.find("per-class count") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 10002") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("t10k-labels-idx1-ubyte.gz") != std::string::npos, msg);
  // With a limit the balance is not required.
  CHECK(load_fashion_mnist("test", 100, dir.str()).size() == 100);
}

TEST_CASE("data: Fashion-MNIST loader on the Debian dataset-fashion-mnist files") {
  TempDir empty_dir;
  const std::string msg = error_message([&] { load_fashion_mnist("train", 10, empty_dir.str()); });
  CHECK_MESSAGE(msg.find("dataset-fashion-mnist") != std::string::npos, msg);

  if (!std::filesystem::exists(kFashionMnistDir)) {
    MESSAGE("skipped: ", kFashionMnistDir, " not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  const Dataset ds = load_fashion_mnist("train", 1000);
  CHECK(ds.images.shape() == Shape{1000, 1, 28, 28});
  CHECK(ds.name == "fashion-mnist");
  CHECK(ds.num_classes == 10);
  CHECK(ds.class_names.at(9) == "Ankle boot");
  const std::vector<int64_t> counts = class_counts(ds.labels, 10);  // throws when out of range
  // The files are shuffled: the first 1000 cover every class, none dominates.
  for (int64_t c : counts) CHECK((c > 50 && c < 160));
  // Pixel mean of real clothing images is near the published 0.286.
  double sum = 0;
  for (uint8_t v : ds.images.to_vector<uint8_t>()) sum += v / 255.0;
  CHECK(sum / ds.images.numel() == doctest::Approx(0.286).epsilon(0.1));
  CHECK(ds.mean.at(0) == doctest::Approx(0.2860));
  CHECK(ds.std.at(0) == doctest::Approx(0.3530));

  const Dataset head = load_fashion_mnist("test", 50);
  CHECK(head.size() == 50);
  // The whole test split: 10000 images, 1000 per class, and its first 50
  // samples are the ones the limited read returned.
  const Dataset test = load_fashion_mnist("test");
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(class_counts(test.labels, 10) == std::vector<int64_t>(10, 1000));
  const std::vector<uint8_t> all = test.images.to_vector<uint8_t>();
  const std::vector<uint8_t> first = head.images.to_vector<uint8_t>();
  CHECK(std::equal(first.begin(), first.end(), all.begin()));
}

// Found by the idx fuzz target (docs/reliability.md): dimensions of up to
// 2^32 - 1 each overflowed the int64 size products (undefined behaviour, and
// a wrapped size could pass the truncation check).
TEST_CASE("data: IDX headers whose sizes overflow are errors naming the file and the field") {
  TempDir dir;
  const std::string img = dir.file("img"), lab = dir.file("lab");
  write_bytes(lab, idx_labels(1, {1}));
  write_bytes(img, idx_images(0x803, 1, 0xffffffffu, 0xffffffffu, {}));
  std::string msg = error_message([&] { load_idx(img, lab); });
  CHECK_MESSAGE(msg.find(img) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("dimension 2 (4294967295) makes one item larger than") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 12") != std::string::npos, msg);
  write_bytes(img, idx_images(0x803, 0xffffffffu, 0x10000, 0x10000, {}));
  msg = error_message([&] { load_idx(img, lab, 2); });
  CHECK_MESSAGE(msg.find("4294967295 items of 4294967296 bytes") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("byte offset 4") != std::string::npos, msg);
  // The largest sizes that fit are still read as far as the data goes: a truncation error.
  write_bytes(img, idx_images(0x803, 1000, 0xffff, 0xffff, {}));
  msg = error_message([&] { load_idx(img, lab); });
  CHECK_MESSAGE(msg.find("truncated") != std::string::npos, msg);
}
