// apps: the file formats the apps write themselves: .npy logits dumps, JSON
// lines, and `basin convert`'s IDX -> CIFAR-10 layout (checked pixel by pixel
// against an independent padding/replication of the test's own IDX files).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/json_writer.h"
#include "apps/npy.h"
#include "core/error.h"
#include "core/tensor.h"
#include "data/cifar.h"

using namespace basin;
using namespace basin::apps;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("basin_apps_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

int run_command(int (*cmd)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cmd(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("apps: npy v1.0 file holds the header dict and the float32 values") {
  const std::string dir = temp_dir("npy");
  std::vector<float> values(3 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.7f * i + 0.3f) * 10.0f;
  const std::string path = dir + "/logits.npy";
  write_npy_f32(path, from_vector<float>(values, {3, 5}));
  const std::vector<uint8_t> bytes = read_all(path);
  REQUIRE(bytes.size() > 10);
  CHECK(std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0);
  CHECK(bytes[6] == 1);
  CHECK(bytes[7] == 0);
  const size_t header_len = bytes[8] | (bytes[9] << 8);
  const size_t data_start = 10 + header_len;
  CHECK(data_start % 64 == 0);
  const std::string dict(bytes.begin() + 10, bytes.begin() + data_start);
  CHECK(dict.find("'descr': '<f4'") != std::string::npos);
  CHECK(dict.find("'fortran_order': False") != std::string::npos);
  CHECK(dict.find("'shape': (3, 5)") != std::string::npos);
  CHECK(dict.back() == '\n');
  REQUIRE(bytes.size() == data_start + values.size() * 4);
  for (size_t i = 0; i < values.size(); ++i) {
    float v;
    std::memcpy(&v, bytes.data() + data_start + 4 * i, 4);
    CHECK(v == values[i]);
  }
  CHECK(npy_header_f32({7}).find("'shape': (7,)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("apps: JSON lines escape text and write non-finite numbers as null") {
  JsonObject o;
  o.add("a", 1.5).add("n", std::nan("")).add("s", std::string("q\"\\\n")).add("i", int64_t{-3}).add("b", true);
  o.add("v", std::vector<double>{0.25, INFINITY});
  CHECK(o.str() == "{\"a\":1.5,\"n\":null,\"s\":\"q\\\"\\\\\\n\",\"i\":-3,\"b\":true,\"v\":[0.25,null]}");
}

TEST_CASE("apps: convert writes IDX images in the CIFAR-10 layout (centred, grey replicated to RGB)") {
  const std::string dir = temp_dir("convert");
  const int n = 3, rows = 28, cols = 28;
  std::vector<uint8_t> images, labels;
  put_be32(images, 0x803);
  put_be32(images, n);
  put_be32(images, rows);
  put_be32(images, cols);
  std::vector<uint8_t> pixels(n * rows * cols);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(1 + (i * 37) % 255);
  images.insert(images.end(), pixels.begin(), pixels.end());
  put_be32(labels, 0x801);
  put_be32(labels, n);
  const std::vector<uint8_t> label_values = {7, 0, 9};
  labels.insert(labels.end(), label_values.begin(), label_values.end());
  write_bytes(dir + "/img.idx", images);
  write_bytes(dir + "/lbl.idx", labels);

  REQUIRE(run_command(convert_main, {"convert", "--idx-images", dir + "/img.idx", "--idx-labels",
                                     dir + "/lbl.idx", "--out", dir + "/out.bin"}) == 0);
  const std::vector<uint8_t> out = read_all(dir + "/out.bin");
  REQUIRE(out.size() == static_cast<size_t>(n) * 3073);
  for (int s = 0; s < n; ++s) {
    const uint8_t* rec = out.data() + s * 3073;
    CHECK(rec[0] == label_values[s]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const int sy = y - 2, sx = x - 2;  // 28 -> 32: two zero rows/columns on each side
          const uint8_t expected = (sy >= 0 && sy < rows && sx >= 0 && sx < cols)
                                       ? pixels[(s * rows + sy) * cols + sx] : 0;
          if (rec[1 + c * 1024 + y * 32 + x] != expected) {
            FAIL("sample ", s, " channel ", c, " y ", y, " x ", x);
          }
        }
  }
  // The CIFAR-10 reader accepts the file.
  const data::Dataset back = data::load_cifar10_file(dir + "/out.bin");
  CHECK(back.size() == n);

  CHECK_THROWS_WITH_AS(run_command(convert_main, {"convert", "--idx-images", dir + "/img.idx"}),
                       doctest::Contains("--out"), Error);
  std::filesystem::remove_all(dir);
}
