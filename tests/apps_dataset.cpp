// apps: datasets that know what they are. `basin convert` on a small
// Fashion-MNIST-shaped IDX folder writes basin-dataset.json, and cifar10:DIR
// then carries Fashion-MNIST's class names, the constants of the written
// pixels (checked against a double loop over the test's own IDX pixels) and
// Fashion-MNIST's asym mapping (checked on the realised transition matrix);
// --mean/--std reach the loaded data, the checkpoint and eval; the dataset
// options' text form; convert --help describes the image transform.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/dataset_spec.h"
#include "apps/flags.h"
#include "apps/npy.h"
#include "apps/train_flags.h"
#include "apps/trainer.h"
#include "core/error.h"
#include "data/dataset_metadata.h"
#include "data/idx.h"
#include "data/noise.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

using namespace basin;
using namespace basin::apps;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("basin_apps_ds_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

struct IdxSplit {
  std::vector<uint8_t> pixels;  // n x 28 x 28
  std::vector<uint8_t> labels;
};

// A split in Fashion-MNIST's file names (raw, not gzip'd), random pixels and labels.
IdxSplit write_idx_split(const std::string& dir, const std::string& prefix, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  IdxSplit s;
  s.pixels.resize(static_cast<size_t>(n) * 784);
  for (auto& p : s.pixels) p = static_cast<uint8_t>(rng() % 256);
  for (int i = 0; i < n; ++i) s.labels.push_back(static_cast<uint8_t>(rng() % 10));
  std::vector<uint8_t> images, labels;
  put_be32(images, 0x803);
  put_be32(images, n);
  put_be32(images, 28);
  put_be32(images, 28);
  images.insert(images.end(), s.pixels.begin(), s.pixels.end());
  put_be32(labels, 0x801);
  put_be32(labels, n);
  labels.insert(labels.end(), s.labels.begin(), s.labels.end());
  write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", images);
  write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  return s;
}

int run_command(int (*cmd)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cmd(static_cast<int>(argv.size()), argv.data());
}

// What `cmd` prints on stdout (redirected to a file for the call).
std::string stdout_of(int (*cmd)(int, char**), std::vector<std::string> args, const std::string& tmp) {
  std::fflush(stdout);
  const int saved = ::dup(1);
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  ::dup2(::fileno(f), 1);
  run_command(cmd, std::move(args));
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::fclose(f);
  std::ifstream in(tmp);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

constexpr int kTrain = 500, kTest = 100;

// Converts a synthetic Fashion-MNIST folder once per test binary run.
struct Converted {
  std::string root, idx, out;
  IdxSplit train, test;
  Converted() {
    root = fresh_dir("convert");
    idx = root + "/idx";
    out = root + "/as-cifar";
    fs::create_directories(idx);
    train = write_idx_split(idx, "train", kTrain, 11);
    test = write_idx_split(idx, "t10k", kTest, 12);
    REQUIRE(run_command(convert_main, {"convert", "--fmnist", idx, "--out-dir", out, "--limit", "100000"}) == 0);
  }
  ~Converted() { fs::remove_all(root); }
};

}  // namespace

TEST_CASE("apps: converted Fashion-MNIST carries its names, constants and asym mapping through cifar10:DIR") {
  Converted c;
  const std::string meta_path = c.out + "/" + data::kDatasetMetadataFile;
  REQUIRE(fs::exists(meta_path));
  const data::Dataset ds = load_dataset("cifar10:" + c.out, "train");
  CHECK(ds.name == "fashion-mnist");
  CHECK(ds.size() == kTrain);
  CHECK(ds.class_names == data::fashion_mnist_class_names());
  CHECK_MESSAGE(ds.provenance.find(meta_path) != std::string::npos, ds.provenance);

  // The constants of the written 32x32 pixels: the 28x28 ones plus 240 zeros per image.
  double sum = 0, sum_sq = 0;
  for (uint8_t p : c.train.pixels) {
    sum += p / 255.0;
    sum_sq += (p / 255.0) * (p / 255.0);
  }
  const double count = static_cast<double>(kTrain) * 1024;
  const double mean = sum / count, stdev = std::sqrt(sum_sq / count - mean * mean);
  REQUIRE(ds.mean.size() == 3);
  for (int ch = 0; ch < 3; ++ch) {
    CHECK(ds.mean[ch] == doctest::Approx(mean).epsilon(1e-7));
    CHECK(ds.std[ch] == doctest::Approx(stdev).epsilon(1e-7));
  }

  // asym:0.4 follows Fashion-MNIST's mapping, not CIFAR-10's (truck->automobile would be 9->1).
  const data::NoisyLabels noise = data::apply_noise(ds, "asym:0.4", 7);
  const std::vector<std::pair<int, int>> fmnist = {{6, 0}, {2, 4}, {5, 7}, {9, 7}};
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) {
      if (i == j) continue;
      const bool mapped = std::find(fmnist.begin(), fmnist.end(), std::make_pair(i, j)) != fmnist.end();
      if (mapped)
        CHECK_MESSAGE(noise.count(i, j) > 0, i, "->", j);
      else
        CHECK_MESSAGE(noise.count(i, j) == 0, i, "->", j);
    }
  // Each mapped class flips at about 0.4 (about 50 samples each: a loose bound).
  for (const auto& [from, to] : fmnist) {
    const double n_class = static_cast<double>(noise.count(from, from) + noise.count(from, to));
    CHECK(noise.count(from, to) / n_class == doctest::Approx(0.4).epsilon(0.5));
  }

  // The test split and the metadata's sample counts agree; eval's copy works too.
  CHECK(load_dataset("cifar10:" + c.out, "test").size() == kTest);
  const data::DatasetMetadata m = data::read_dataset_metadata(meta_path);
  CHECK(m.train_samples == kTrain);
  CHECK(m.original_height == 28);
  CHECK(m.original_channels == 1);
  CHECK(m.transform.find("copied to R, G and B") != std::string::npos);

  // Without the metadata file the folder reads as CIFAR-10, and the log line says so.
  fs::remove(meta_path);
  const data::Dataset plain = load_dataset("cifar10:" + c.out, "train");
  CHECK(plain.class_names.at(0) == "airplane");
  CHECK_MESSAGE(plain.provenance.find("no basin-dataset.json") != std::string::npos, plain.provenance);
}

TEST_CASE("apps: convert --help says what is done to the images") {
  const std::string dir = fresh_dir("help");
  const std::string help = stdout_of(convert_main, {"convert", "--help"}, dir + "/out.txt");
  for (const char* needle : {"zero-padded", "28x28 gets 2 black rows/columns on each side", "copied to R, G and B",
                             "never scaled", "basin-dataset.json", "padding included"})
    CHECK_MESSAGE(help.find(needle) != std::string::npos, needle, " in:\n", help);
  fs::remove_all(dir);
}

TEST_CASE("apps: dataset options text form round-trips and rejects what it cannot read") {
  DatasetOptions o;
  CHECK(o.str() == "auto");  // the form runs before these options stored: they still resume
  o.normalization = "computed";
  o.mean = {0.1, 0.25};
  o.std = {0.3};
  o.resize_width = 40;
  o.resize_height = 30;
  o.channels = 1;
  const DatasetOptions r = parse_dataset_options(o.str());
  CHECK(r.normalization == "computed");
  CHECK(r.mean == o.mean);
  CHECK(r.std == o.std);
  CHECK(r.resize_width == 40);
  CHECK(r.resize_height == 30);
  CHECK(r.channels == 1);
  CHECK_THROWS_WITH_AS(parse_dataset_options("auto;resize=32"), doctest::Contains("flag --resize: expected WIDTHxHEIGHT"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_dataset_options("auto;channels=2"), doctest::Contains("flag --channels: expected 1 or 3"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_dataset_options("auto;std=0.2,0"), doctest::Contains("flag --std"), Error);
  CHECK_THROWS_WITH_AS(parse_dataset_options("auto;gamma=1"), doctest::Contains("unknown part 'gamma=1'"), Error);
  CHECK_THROWS_WITH_AS(parse_dataset_options("median"), doctest::Contains("auto or computed"), Error);
  // Folder-only options on another dataset are refused, naming the flags.
  CHECK_THROWS_WITH_AS(load_dataset("fmnist:/nonexistent", "train", 0, "auto;resize=32x32"),
                       doctest::Contains("--resize and --channels apply to folder:DIR"), Error);
}

TEST_CASE("apps: --mean/--std override the constants in training, the checkpoint and eval") {
  Converted c;
  const std::string spec = "cifar10:" + c.out;
  Flags f("train", "");
  declare_train_flags(f);
  std::vector<std::string> args = {"train", "--dataset", spec, "--mean", "0.5", "--std", "0.1,0.2,0.3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(f.parse(static_cast<int>(argv.size()), argv.data()));
  const TrainConfig cfg = train_config_from_flags(f);
  const data::Dataset ds = load_dataset(cfg.dataset, "train", 0, cfg.normalization);
  CHECK(ds.mean == std::vector<double>{0.5, 0.5, 0.5});  // one value: every channel
  CHECK(ds.std == std::vector<double>{0.1, 0.2, 0.3});
  CHECK_MESSAGE(ds.provenance.find("--mean and --std given") != std::string::npos, ds.provenance);
  // A count that matches neither 1 nor the channels names the flag.
  CHECK_THROWS_WITH_AS(load_dataset(spec, "train", 0, "auto;std=0.1,0.2"),
                       doctest::Contains("flag --std: 2 values for a 3-channel dataset"), Error);
  CHECK_THROWS_WITH_AS(load_dataset(spec, "train", 0, "auto;mean=0.1,0.2,0.3,0.4"),
                       doctest::Contains("flag --mean: 4 values"), Error);

  // One short epoch: the checkpoint holds the constants used.
  TrainConfig t = cfg;
  t.model = "resnet20";
  t.width = 0.25;
  t.train_limit = 200;
  t.test_limit = 50;
  t.epochs = 1;
  t.batch_size = 100;
  t.threads = 2;
  t.quiet = true;
  t.log_every = 0;
  t.out_dir = c.root + "/run";
  run_training(t);
  const Checkpoint ck = load_checkpoint(t.out_dir + "/checkpoint.safetensors");
  CHECK(split_doubles(ck.meta("normalization.mean"), "mean") == std::vector<double>{0.5, 0.5, 0.5});
  CHECK(split_doubles(ck.meta("normalization.std"), "std") == std::vector<double>{0.1, 0.2, 0.3});
  CHECK(ck.meta("train.normalization") == cfg.normalization);

  // eval: without flags it uses the checkpoint's constants; --mean/--std equal to
  // them give the same logits; other constants change them.
  auto logits = [&](std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> a = {"eval", "--checkpoint", t.out_dir, "--limit", "20", "--threads", "2",
                                  "--dump-logits", c.root + "/" + name};
    a.insert(a.end(), extra.begin(), extra.end());
    stdout_of(eval_main, a, c.root + "/eval.txt");
    std::ifstream in(c.root + "/" + name, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::vector<char> base = logits({}, "a.npy");
  REQUIRE(base.size() > 128);
  CHECK(logits({"--mean", "0.5,0.5,0.5", "--std", "0.1,0.2,0.3"}, "b.npy") == base);
  CHECK(logits({"--mean", "0.3"}, "c.npy") != base);
}

TEST_CASE("apps: folder:DIR with --resize and --channels from the flags, the same for train and test") {
  const std::string dir = fresh_dir("folder");
  // train: a 6x4 grey image and an 8x8 colour one; test: one 5x5 grey image.
  for (const char* sub : {"train/a", "train/b", "test/a"}) fs::create_directories(dir + "/" + sub);
  const std::vector<uint8_t> grey(6 * 4, 200), colour(8 * 8 * 3, 60), small(5 * 5, 10);
  REQUIRE(stbi_write_png((dir + "/train/a/g.png").c_str(), 6, 4, 1, grey.data(), 6));
  REQUIRE(stbi_write_png((dir + "/train/b/c.png").c_str(), 8, 8, 3, colour.data(), 8 * 3));
  REQUIRE(stbi_write_png((dir + "/test/a/s.png").c_str(), 5, 5, 1, small.data(), 5));
  const std::string spec = "folder:" + dir;
  // Without --resize the first image whose size differs is named.
  const std::string msg = [&] {
    try {
      load_dataset(spec, "train");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<nothing thrown>");
  }();
  CHECK_MESSAGE(msg.find("train/b/c.png") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("--resize") != std::string::npos, msg);

  Flags f("train", "");
  declare_train_flags(f);
  std::vector<std::string> args = {"train", "--dataset", spec, "--resize", "3x2", "--channels", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(f.parse(static_cast<int>(argv.size()), argv.data()));
  const TrainConfig cfg = train_config_from_flags(f);
  for (const char* split : {"train", "test"}) {
    const data::Dataset ds = load_dataset(cfg.dataset, split, 0, cfg.normalization);
    CHECK(ds.channels() == 1);
    CHECK(ds.height() == 2);
    CHECK(ds.width() == 3);
  }
  // Constant images stay constant when resampled; colour 60 becomes luma 60.
  const data::Dataset train = load_dataset(cfg.dataset, "train", 0, cfg.normalization);
  const std::vector<uint8_t> px = train.images.to_vector<uint8_t>();
  REQUIRE(px.size() == 12u);
  for (int k = 0; k < 6; ++k) CHECK(px[k] == 200);
  for (int k = 6; k < 12; ++k) CHECK(px[k] == (77 * 60 + 150 * 60 + 29 * 60) >> 8);
  fs::remove_all(dir);
}
