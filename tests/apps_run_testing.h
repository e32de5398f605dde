// Helpers of the run-folder tests (tests/apps_run_*.cpp, tests/apps_trainer.cpp):
// a tiny training configuration on real Fashion-MNIST images, `basin train`
// driven through its argv, and readers for what a run leaves on disk.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/trainer.h"
#include "core/json.h"
#include "data/idx.h"
#include "data_temp_dir.h"

namespace basin::test {

inline bool have_fashion_mnist() {
  return std::filesystem::exists(std::string(data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz") &&
         std::filesystem::exists(std::string(data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz");
}

#define BASIN_REQUIRE_FASHION_MNIST()                                                                  \
  if (!basin::test::have_fashion_mnist()) {                                                            \
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", basin::data::kFashionMnistDir,                    \
            " (apt install dataset-fashion-mnist)");                                                   \
    return;                                                                                            \
  }

// 256 images, batches of 64: 4 steps an epoch, a second or so per epoch.
inline apps::TrainConfig tiny_config(const std::string& out) {
  apps::TrainConfig c;
  c.model = "resnet20";
  c.width = 0.25;
  c.dataset = "fmnist";
  c.train_limit = 256;
  c.test_limit = 64;
  c.noise = "sym:0.4";
  c.noise_seed = 5;
  c.epochs = 2;
  c.batch_size = 64;
  c.seed = 3;
  c.optim.method = "casam";  // exercises the tracker, the split refit and the optimizer's stream
  c.optim.warmup_epochs = 1;
  c.optim.lr = 0.05;
  c.threads = 2;
  c.log_every = 2;
  c.out_dir = out;
  c.quiet = true;
  return c;
}

// A tensor's bytes, for bit-for-bit comparisons.
inline std::vector<uint8_t> bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.raw_data());
  return std::vector<uint8_t>(p, p + c.numel() * dtype_size(c.dtype()));
}

// `basin train ARGS...` in-process; its exit code.
inline int train_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "train");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return apps::train_main(static_cast<int>(argv.size()), argv.data());
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every file of a folder (name -> bytes), to prove a command changed nothing.
inline std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    out[e.path().filename().string()] = read_text(e.path().string());
  return out;
}

// The lines of a run.jsonl, parsed by the strict reader (a malformed line fails the test).
inline std::vector<json::Value> log_lines(const std::string& path, const std::string& type = "") {
  std::vector<json::Value> out;
  std::ifstream in(path);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    json::Value v = json::parse(line, path + " line " + std::to_string(++number));
    if (type.empty() || v.at("type").as_string() == type) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace basin::test
