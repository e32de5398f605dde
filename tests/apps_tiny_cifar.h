// A tiny synthetic CIFAR-10 on disk for the apps tests: random images and
// labels in the binary layout (docs/algorithms.md "Standard CIFAR pipeline").
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "data_temp_dir.h"

namespace basin::test {

constexpr int kTrainPerFile = 16, kTestImages = 12, kPixels = 3 * 32 * 32;
constexpr double kMean = 0.5, kStd = 0.25;

// Random images in the CIFAR-10 binary layout: 5 x 16 training records, 12 test records.
struct TinyCifar {
  TempDir dir{"basin-interchange"};
  std::vector<uint8_t> train_pixels, test_pixels;
  std::vector<int64_t> test_labels;

  TinyCifar() {
    std::mt19937 rng(21);
    std::filesystem::create_directories(dir.file("data"));
    for (int b = 1; b <= 5; ++b) write_split(dir.file("data/data_batch_" + std::to_string(b) + ".bin"), kTrainPerFile, rng, train_pixels, nullptr);
    write_split(dir.file("data/test_batch.bin"), kTestImages, rng, test_pixels, &test_labels);
  }
  std::string spec() const { return "cifar10:" + dir.file("data"); }

  static void write_split(const std::string& path, int n, std::mt19937& rng, std::vector<uint8_t>& pixels,
                          std::vector<int64_t>* labels) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < n; ++i) {
      const auto label = static_cast<uint8_t>(rng() % 10);
      bytes.push_back(label);
      if (labels) labels->push_back(label);
      for (int p = 0; p < kPixels; ++p) {
        const auto v = static_cast<uint8_t>(rng() % 256);
        bytes.push_back(v);
        pixels.push_back(v);
      }
    }
    write_bytes(path, bytes);
  }
};

}  // namespace basin::test
