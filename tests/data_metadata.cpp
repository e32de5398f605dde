// basin-dataset.json: write/read round trip, the CIFAR-10 loader driven by it
// (name, class names, constants, the asym mapping's realised transitions),
// the provenance line with and without it, and malformed files refused with
// the file and the field named.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "data/cifar.h"
#include "data/dataset_metadata.h"
#include "data/noise.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::data;
using basin::test::error_message;
using basin::test::TempDir;
using basin::test::write_bytes;

namespace {

DatasetMetadata three_classes() {
  DatasetMetadata m;
  m.name = "toy";
  m.source = "written by the test";
  m.transform = "none";
  m.class_names = {"ant", "bee", "cow"};
  m.mean = {0.25, 0.5, 0.75};
  m.std = {0.125, 0.2, 0.3};
  m.normalization_source = "made up";
  m.asym_noise = {{0, 2}, {1, 0}};
  m.original_height = 28;
  m.original_width = 28;
  m.original_channels = 1;
  m.train_samples = 400;
  m.test_samples = 30;
  return m;
}

// CIFAR-layout records with labels cycling over `classes`.
std::vector<uint8_t> records(int n, int classes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * 3073);
  for (int i = 0; i < n; ++i) {
    bytes[static_cast<size_t>(i) * 3073] = static_cast<uint8_t>(i % classes);
    for (int k = 1; k < 3073; ++k) bytes[static_cast<size_t>(i) * 3073 + k] = static_cast<uint8_t>(rng());
  }
  return bytes;
}

void write_split_files(const TempDir& dir, int per_batch, int test, int classes) {
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir.file("data_batch_" + std::to_string(b) + ".bin"), records(per_batch, classes, 10 + b));
  write_bytes(dir.file("test_batch.bin"), records(test, classes, 99));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// The written file with `from` replaced by `to` (the test's way to corrupt one field).
std::string edited(const std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.substr(0, at) + to + text.substr(at + from.size());
}

}  // namespace

TEST_CASE("data: basin-dataset.json round trip keeps every field") {
  TempDir dir;
  const DatasetMetadata m = three_classes();
  write_dataset_metadata(dir.file(kDatasetMetadataFile), m);
  const DatasetMetadata r = read_dataset_metadata(dir.file(kDatasetMetadataFile));
  CHECK(r.name == m.name);
  CHECK(r.source == m.source);
  CHECK(r.transform == m.transform);
  CHECK(r.class_names == m.class_names);
  CHECK(r.mean == m.mean);
  CHECK(r.std == m.std);
  CHECK(r.asym_noise == m.asym_noise);
  CHECK(r.asym_targets() == std::vector<int64_t>{2, 0, -1});
  CHECK(r.height == 32);
  CHECK(r.channels == 3);
  CHECK(r.original_height == 28);
  CHECK(r.original_channels == 1);
  CHECK(r.train_samples == 400);
  CHECK(r.test_samples == 30);
  CHECK(r.normalization_source == "made up");
  // No mapping is written as null and read back as none.
  DatasetMetadata none = m;
  none.asym_noise.clear();
  write_dataset_metadata(dir.file("none.json"), none);
  CHECK(read_text(dir.file("none.json")).find("\"asym_noise\": null") != std::string::npos);
  CHECK(read_dataset_metadata(dir.file("none.json")).asym_noise.empty());
}

TEST_CASE("data: the CIFAR-10 loader uses basin-dataset.json for names, constants and the asym mapping") {
  TempDir dir;
  write_split_files(dir, 80, 30, 3);
  write_dataset_metadata(dir.file(kDatasetMetadataFile), three_classes());
  const Dataset ds = load_cifar10(dir.str(), "train", /*strict=*/false);
  CHECK(ds.name == "toy");
  CHECK(ds.num_classes == 3);
  CHECK(ds.class_names == std::vector<std::string>{"ant", "bee", "cow"});
  CHECK(ds.mean == std::vector<double>{0.25, 0.5, 0.75});
  CHECK(ds.std == std::vector<double>{0.125, 0.2, 0.3});
  CHECK_MESSAGE(ds.provenance.find(dir.file(kDatasetMetadataFile)) != std::string::npos, ds.provenance);
  CHECK_MESSAGE(ds.provenance.find("ant->cow, bee->ant") != std::string::npos, ds.provenance);
  // asym:0.5 flips only ant->cow and bee->ant; cow never changes.
  const NoisyLabels noise = apply_noise(ds, "asym:0.5", 4);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const bool allowed = i == j || (i == 0 && j == 2) || (i == 1 && j == 0);
      if (!allowed) CHECK_MESSAGE(noise.count(i, j) == 0, i, "->", j);
    }
  // 135 ants and 135 bees at rate 0.5: both flips happen, near half of them.
  CHECK(noise.count(0, 2) > 40);
  CHECK(noise.count(0, 2) < 94);
  CHECK(noise.count(1, 0) > 40);
  CHECK(noise.count(2, 2) == 130);
  // The test split follows the same file.
  CHECK(load_cifar10(dir.str(), "test", false).class_names.at(2) == "cow");

  // Strict (canonical sizes) does not apply CIFAR-10's class counts to converted data.
  CHECK(load_cifar10(dir.str(), "train", true).size() == 400);

  // "asym_noise": null: asym noise is refused, naming the dataset.
  DatasetMetadata none = three_classes();
  none.asym_noise.clear();
  write_dataset_metadata(dir.file(kDatasetMetadataFile), none);
  const Dataset no_map = load_cifar10(dir.str(), "train", false);
  const std::string msg = error_message([&] { apply_noise(no_map, "asym:0.2", 1); });
  CHECK_MESSAGE(msg.find("no asym class mapping") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("toy") != std::string::npos, msg);

  // Without the file: CIFAR-10's names and constants, and the log line says so.
  std::filesystem::remove(dir.file(kDatasetMetadataFile));
  write_split_files(dir, 80, 30, 10);
  const Dataset plain = load_cifar10(dir.str(), "train", false);
  CHECK(plain.name == "cifar10");
  CHECK(plain.class_names.at(0) == "airplane");
  CHECK(plain.mean.at(0) == doctest::Approx(0.4914));
  CHECK_MESSAGE(plain.provenance.find("no basin-dataset.json in " + dir.str()) != std::string::npos, plain.provenance);
  CHECK_MESSAGE(plain.provenance.find("not the canonical CIFAR-10") != std::string::npos, plain.provenance);
}

TEST_CASE("data: a malformed basin-dataset.json is an error naming the file and the field") {
  TempDir dir;
  write_split_files(dir, 80, 30, 3);
  const std::string path = dir.file(kDatasetMetadataFile);
  write_dataset_metadata(path, three_classes());
  const std::string good = read_text(path);
  struct Case {
    std::string from, to, field, problem;
  };
  const std::vector<Case> cases = {
      {"\"mean\": [0.25, 0.5, 0.75]", "\"mean\": [0.25, \"x\", 0.75]", "mean[1]", "expected a number"},
      {"\"mean\": [0.25, 0.5, 0.75]", "\"mean\": [0.25, 0.5]", "mean", "one value per channel"},
      {"\"std\": [0.125, 0.2, 0.3]", "\"std\": [0.125, -0.2, 0.3]", "std[1]", "outside"},
      {"\"class_names\": [\"ant\", \"bee\", \"cow\"]", "\"class_names\": [\"ant\", \"ant\", \"cow\"]",
       "class_names[1]", "appears twice"},
      {"\"class_names\": [\"ant\", \"bee\", \"cow\"],\n", "", "class_names", "is missing"},
      {"[[0, 2], [1, 0]]", "[[0, 3], [1, 0]]", "asym_noise[0]", "class indices must be in [0, 3)"},
      {"[[0, 2], [1, 0]]", "[[0, 2, 1]]", "asym_noise[0]", "[clean, noisy] pair"},
      {"[[0, 2], [1, 0]]", "[[0, 2], [0, 1]]", "asym_noise[1]", "second target"},
      {"\"format\": \"basin-dataset-1\"", "\"format\": \"basin-dataset-9\"", "format", "not a format"},
      {"\"name\": \"toy\"", "\"name\": \"toy\", \"nmae\": 1", "nmae", "unknown field"},
      {"\"channels\": 3", "\"channels\": 2", "image.channels", "must be 1 or 3"},
      {"\"height\": 32", "\"height\": 28", "image", "data files hold 3x32x32"},
      {"\"train\": 400", "\"train\": 500", "samples.train", "left over from another conversion"},
  };
  for (const Case& c : cases) {
    write_text(path, edited(good, c.from, c.to));
    const std::string msg = error_message([&] { load_cifar10(dir.str(), "train", false); });
    CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("field '" + c.field + "'") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(c.problem) != std::string::npos, msg);
  }
  // A syntax error names the file, line and column.
  write_text(path, edited(good, "\"name\": \"toy\",", "\"name\": \"toy\",,"));
  const std::string msg = error_message([&] { load_cifar10(dir.str(), "train", false); });
  CHECK_MESSAGE(msg.find(path + ": malformed JSON at line 3") != std::string::npos, msg);
  // Labels beyond the named classes are refused naming the data file.
  write_dataset_metadata(path, three_classes());
  write_split_files(dir, 80, 30, 4);
  const std::string msg2 = error_message([&] { load_cifar10(dir.str(), "train", false); });
  CHECK_MESSAGE(msg2.find("data_batch_1.bin") != std::string::npos, msg2);
  CHECK_MESSAGE(msg2.find("out of range [0, 3)") != std::string::npos, msg2);
}

TEST_CASE("data: torchvision's pickled CIFAR folders get an error naming the binary files and where they come from") {
  TempDir py10;
  for (const char* f : {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                        "batches.meta", "readme.html"})
    write_bytes(py10.file(f), {0x80, 0x02});
  const std::string msg = error_message([&] { load_cifar10(py10.str(), "train", false); });
  for (const char* needle : {"Python (pickled) version of CIFAR-10", "data_batch_1.bin", "data_batch_5.bin",
                             "test_batch.bin", "\"CIFAR-10 binary version\"", "https://www.cs.toronto.edu/~kriz/cifar.html",
                             "cifar-10-batches-bin"})
    CHECK_MESSAGE(msg.find(needle) != std::string::npos, needle, " in: ", msg);
  CHECK_MESSAGE(msg.find(py10.str()) != std::string::npos, msg);

  TempDir py100;
  for (const char* f : {"train", "test", "meta"}) write_bytes(py100.file(f), {0x80, 0x02});
  const std::string msg100 = error_message([&] { load_cifar100(py100.str(), "test", false); });
  for (const char* needle : {"Python (pickled) version of CIFAR-100", "train.bin", "test.bin",
                             "\"CIFAR-100 binary version\"", "cifar-100-binary"})
    CHECK_MESSAGE(msg100.find(needle) != std::string::npos, needle, " in: ", msg100);
  // Given to cifar10:, a CIFAR-100 python folder is still recognised for what it is.
  CHECK(error_message([&] { load_cifar10(py100.str(), "test", false); }).find("CIFAR-100") != std::string::npos);

  // The parent of the unpacked binary folder: point one level down.
  TempDir parent;
  std::filesystem::create_directories(parent.file("cifar-10-batches-bin"));
  const std::string down = error_message([&] { load_cifar10(parent.str(), "test", false); });
  CHECK_MESSAGE(down.find("give '" + parent.file("cifar-10-batches-bin") + "'") != std::string::npos, down);
  // A plain missing file still says what basin reads.
  TempDir empty;
  const std::string missing = error_message([&] { load_cifar10(empty.str(), "test", false); });
  CHECK_MESSAGE(missing.find("test_batch.bin' not found") != std::string::npos, missing);
  CHECK_MESSAGE(missing.find("CIFAR-10 binary version") != std::string::npos, missing);
}
