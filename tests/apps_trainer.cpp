// apps: the training loop end to end on real Fashion-MNIST images (skipped,
// with a message, where Debian's dataset-fashion-mnist is not installed):
// a small ResNet learns; a run stopped after one epoch and resumed ends with
// bit-identical weights and optimizer state; checkpoints are complete and a
// corrupt one is refused with an error naming the file.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/trainer.h"
#include "core/dtype.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "apps_run_testing.h"

using namespace basin;
using namespace basin::apps;
using basin::test::bytes_of;
using basin::test::have_fashion_mnist;
using basin::test::tiny_config;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("basin_apps_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

int count_lines_with(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

std::string error_of(const TrainConfig& c) {
  try {
    run_training(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("apps: a small ResNet learns a 2,000-image Fashion-MNIST subset; eval agrees with its logits") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir, " (apt install dataset-fashion-mnist)");
    return;
  }
  const std::string dir = temp_dir("learn");
  TrainConfig c;
  c.model = "resnet20";
  c.width = 0.5;
  c.train_limit = 2000;
  c.test_limit = 500;
  c.epochs = 3;  // 93 steps
  c.batch_size = 64;
  c.optim.lr = 0.05;
  c.threads = 2;
  c.log_every = 10;
  c.eval_every = 3;
  c.out_dir = dir;
  c.quiet = true;
  const TrainSummary s = run_training(c);
  CHECK(s.completed);
  CHECK(s.steps == 3 * (2000 / 64));
  MESSAGE("clean test accuracy after ", s.steps, " steps: ", s.final_test_accuracy);
  CHECK(s.final_test_accuracy > 0.5);  // chance is 0.1
  CHECK(count_lines_with(dir + "/run.jsonl", "\"type\":\"epoch\"") == 3);
  CHECK(count_lines_with(dir + "/run.jsonl", "\"type\":\"step\"") == 10);
  CHECK(fs::exists(dir + "/summary.json"));

  // basin eval on the checkpoint: accuracy recomputed here from the dumped logits.
  std::vector<std::string> args = {"eval", "--checkpoint", dir, "--limit", "500", "--dump-logits",
                                   dir + "/logits.npy", "--threads", "2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(eval_main(static_cast<int>(argv.size()), argv.data()) == 0);
  std::ifstream in(dir + "/logits.npy", std::ios::binary);
  std::vector<char> npy((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t start = 10 + (static_cast<uint8_t>(npy[8]) | (static_cast<uint8_t>(npy[9]) << 8));
  REQUIRE(npy.size() == start + 500 * 10 * 4);
  const data::Dataset test = data::load_fashion_mnist("test", 500);
  const std::vector<int64_t> labels = test.labels.to_vector<int64_t>();
  int correct = 0;
  for (int i = 0; i < 500; ++i) {
    float row[10];
    std::memcpy(row, npy.data() + start + i * 40, 40);
    int best = 0;
    for (int k = 1; k < 10; ++k)
      if (row[k] > row[best]) best = k;
    correct += best == labels[i];
  }
  CHECK(correct / 500.0 == doctest::Approx(s.final_test_accuracy).epsilon(1e-12));
  fs::remove_all(dir);
}

TEST_CASE("apps: stop after 1 epoch + resume = 2 epochs straight, bit for bit (CPU)") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir);
    return;
  }
  const std::string dir = temp_dir("resume");
  const TrainConfig straight = tiny_config(dir + "/straight");
  const TrainSummary a = run_training(straight);
  REQUIRE(a.completed);

  TrainConfig first = tiny_config(dir + "/split");
  first.stop_after = 1;
  const TrainSummary b1 = run_training(first);
  CHECK_FALSE(b1.completed);
  CHECK(b1.epochs_done == 1);
  const Checkpoint after_one = load_checkpoint(dir + "/split/checkpoint.safetensors");
  TrainConfig second = tiny_config(dir + "/split");
  second.resume = dir + "/split";
  const TrainSummary b2 = run_training(second);
  CHECK(b2.completed);
  CHECK(b2.steps == a.steps);

  const Checkpoint ca = load_checkpoint(dir + "/straight/checkpoint.safetensors");
  const Checkpoint cb = load_checkpoint(dir + "/split/checkpoint.safetensors");
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  int compared = 0, changed_in_epoch_two = 0;
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    CAPTURE(ca.tensors[i].first);
    REQUIRE(ca.tensors[i].first == cb.tensors[i].first);
    CHECK(ca.tensors[i].second.shape() == cb.tensors[i].second.shape());
    CHECK(bytes_of(ca.tensors[i].second) == bytes_of(cb.tensors[i].second));
    ++compared;
    for (const auto& [n, t] : after_one.tensors)
      if (n == ca.tensors[i].first && bytes_of(t) != bytes_of(ca.tensors[i].second)) ++changed_in_epoch_two;
  }
  MESSAGE(compared, " tensors identical; ", changed_in_epoch_two, " of them changed during epoch 2");
  CHECK(compared > 50);
  CHECK(changed_in_epoch_two > 50);  // epoch 2 really trained (weights, BN stats, momentum, tracker)
  CHECK(ca.meta("augment_offset") == cb.meta("augment_offset"));
  CHECK(a.final_test_accuracy == b2.final_test_accuracy);
  fs::remove_all(dir);
}

TEST_CASE("apps: checkpoints are complete files; a corrupt or mismatched one is refused naming the file") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir);
    return;
  }
  const std::string dir = temp_dir("ckpt");
  TrainConfig c = tiny_config(dir + "/run");
  c.epochs = 1;
  c.optim.method = "sam";
  run_training(c);
  for (const auto& entry : fs::directory_iterator(dir + "/run"))
    CHECK_MESSAGE(entry.path().string().find(".tmp") == std::string::npos, "left behind: ", entry.path());
  const std::string path = dir + "/run/checkpoint.safetensors";
  const Checkpoint ck = load_checkpoint(path);
  CHECK(ck.meta("epoch") == "1");
  CHECK(ck.meta("step") == "4");
  CHECK(ck.meta("model") == "resnet20");
  // The normalisation constants are stored, and they are the dataset's (docs/algorithms.md,
  // "Datasets, normalisation and augmentation").
  const data::Normalization fm = data::standard_normalization("fashion-mnist");
  const std::vector<double> mean = split_doubles(ck.meta("normalization.mean"), "mean");
  const std::vector<double> stdev = split_doubles(ck.meta("normalization.std"), "std");
  REQUIRE(mean.size() == 1);
  CHECK(mean[0] == fm.mean[0]);
  CHECK(stdev[0] == fm.std[0]);
  bool has_momentum = false, has_model = false, has_tracker = false;
  for (const auto& [n, t] : ck.tensors) {
    has_momentum |= n == "optim.momentum";
    has_model |= n == "model.conv1.weight";
    has_tracker |= n == "tracker.ema";
  }
  CHECK(has_momentum);
  CHECK(has_model);
  CHECK(has_tracker);

  // Truncated file.
  const std::vector<uint8_t> good = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  fs::create_directories(dir + "/bad");
  const std::string bad = dir + "/bad/checkpoint.safetensors";
  {
    std::ofstream out(bad, std::ios::binary);
    out.write(reinterpret_cast<const char*>(good.data()), static_cast<std::streamsize>(good.size() / 2));
  }
  TrainConfig r = c;
  r.out_dir = dir + "/resumed";
  r.resume = dir + "/bad";
  std::string err = error_of(r);
  CHECK(err.find(bad) != std::string::npos);
  // Garbage in the JSON header.
  {
    std::vector<uint8_t> broken = good;
    for (size_t i = 12; i < 40; ++i) broken[i] = '#';
    std::ofstream out(bad, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(broken.data()), static_cast<std::streamsize>(broken.size()));
  }
  err = error_of(r);
  CHECK(err.find(bad) != std::string::npos);
  // Missing file.
  r.resume = dir + "/nowhere/checkpoint.safetensors";
  CHECK(error_of(r).find(r.resume) != std::string::npos);
  // A different configuration.
  r.resume = dir + "/run";
  r.seed = 4;
  err = error_of(r);
  CHECK(err.find("seed") != std::string::npos);
  CHECK(err.find(path) != std::string::npos);
  fs::remove_all(dir);
}

// Found reading the resume path for the checkpoint fuzz target: the augment
// generator's state was parsed with std::stoull, so a damaged value escaped as
// std::invalid_argument("stoull"), naming neither the file nor the key.
TEST_CASE("apps: damaged numeric checkpoint metadata is refused naming the file, the key and the text") {
  Checkpoint ck;
  ck.path = "/runs/a/checkpoint.safetensors";
  ck.metadata = {{"augment_seed", "18446744073709551615"}, {"augment_offset", "128"}, {"step", "-3"},
                 {"epoch", "9223372036854775807"}};
  CHECK(ck.meta_u64("augment_seed") == 18446744073709551615ull);
  CHECK(ck.meta_u64("augment_offset") == 128);
  CHECK(ck.meta_i64("step") == -3);
  CHECK(ck.meta_i64("epoch") == 9223372036854775807ll);
  const auto error_of_meta = [&](const std::string& key, const std::string& value, bool is_unsigned) {
    ck.metadata[key] = value;
    try {
      if (is_unsigned) ck.meta_u64(key);
      else ck.meta_i64(key);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // Not a number, a sign, blanks, trailing bytes, one past the range, empty.
  for (const std::string bad : {"x3", "-1", " 3", "+3", "3 ", "18446744073709551616", ""}) {
    const std::string err = error_of_meta("augment_seed", bad, true);
    CAPTURE(bad);
    CHECK(err.find(ck.path) != std::string::npos);
    CHECK(err.find("'augment_seed'") != std::string::npos);
    CHECK(err.find("'" + bad + "'") != std::string::npos);
  }
  for (const std::string bad : {"9223372036854775808", "-9223372036854775809", "4x"}) {
    const std::string err = error_of_meta("step", bad, false);
    CAPTURE(bad);
    CHECK(err.find("'step' should be a 64-bit integer, got '" + bad + "'") != std::string::npos);
  }
}

TEST_CASE("apps: basin train --resume DIR restores the run's flags and finishes it") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir);
    return;
  }
  const std::string dir = temp_dir("cli_resume");
  const auto run = basin::test::train_cli;
  REQUIRE(run({"--width=0.25", "--train-limit=256", "--test-limit=64", "--epochs=2", "--batch-size=64",
               "--lr=0.07", "--noise=pair:0.3", "--threads=2", "--quiet", "--stop-after=1", "--out=" + dir}) == 0);
  // Only --resume (and per-invocation flags): everything else comes from the checkpoint,
  // otherwise the identity check would refuse (different epochs, noise, width ...).
  REQUIRE(run({"--resume", dir, "--quiet"}) == 0);
  const Checkpoint ck = load_checkpoint(dir + "/checkpoint.safetensors");
  CHECK(ck.meta("epoch") == "2");
  CHECK(ck.meta("flag.lr") == "0.07");
  CHECK(ck.meta("flag.noise") == "pair:0.3");
  CHECK(ck.meta("flag.stop-after") == "0");  // per-invocation, not restored
  std::ifstream in(dir + "/summary.json");
  const std::string summary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(summary.find("\"completed\":true") != std::string::npos);
  fs::remove_all(dir);
}
