// Image-folder loader on tiny PNG/BMP files written with stb_image_write:
// class order, pixel layout (HWC file -> CHW tensor), grey images, the
// wrong-size error, and the resamplers against hand-computed values.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "data/image_folder.h"
#include "data_temp_dir.h"

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
using namespace basin::data;
using basin::test::error_message;
using basin::test::TempDir;

namespace {

std::vector<uint8_t> random_pixels(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(n);
  for (auto& v : px) v = static_cast<uint8_t>(rng());
  return px;
}

// Tensor sample i, channel c, (y, x) must equal the interleaved file pixel.
void check_image(const Dataset& ds, int64_t i, const std::vector<uint8_t>& hwc, int h, int w, int c) {
  const uint8_t* px = ds.images.data<uint8_t>() + i * c * h * w;
  int bad = 0;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        if (px[(ch * h + y) * w + x] != hwc[(y * w + x) * c + ch]) ++bad;
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("data: image folder with PNG and BMP files, sorted classes, CHW pixels") {
  TempDir dir;
  const int h = 3, w = 5;
  std::filesystem::create_directories(dir.file("zebra"));
  std::filesystem::create_directories(dir.file("ant"));
  const auto a0 = random_pixels(h * w * 3, 1), a1 = random_pixels(h * w * 3, 2), z0 = random_pixels(h * w * 3, 3);
  REQUIRE(stbi_write_png(dir.file("ant/b.png").c_str(), w, h, 3, a1.data(), w * 3));
  REQUIRE(stbi_write_bmp(dir.file("ant/a.bmp").c_str(), w, h, 3, a0.data()));
  REQUIRE(stbi_write_png(dir.file("zebra/x.png").c_str(), w, h, 3, z0.data(), w * 3));
  basin::test::write_bytes(dir.file("zebra/notes.txt"), {'h', 'i'});  // skipped

  const Dataset ds = load_image_folder(dir.str());
  REQUIRE(ds.images.shape() == Shape{3, 3, h, w});
  CHECK(ds.class_names == std::vector<std::string>{"ant", "zebra"});
  CHECK(ds.num_classes == 2);
  CHECK(ds.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1});
  check_image(ds, 0, a0, h, w, 3);  // a.bmp sorts before b.png
  check_image(ds, 1, a1, h, w, 3);
  check_image(ds, 2, z0, h, w, 3);
  REQUIRE(ds.mean.size() == 3);
  double sum = 0;
  for (int k = 0; k < h * w; ++k) sum += a0[k * 3 + 1] + a1[k * 3 + 1] + z0[k * 3 + 1];
  CHECK(ds.mean[1] == doctest::Approx(sum / (3.0 * h * w) / 255.0).epsilon(1e-9));
}

TEST_CASE("data: image folder grey images, wrong size error, resizing") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("c0"));
  std::filesystem::create_directories(dir.file("c1"));
  const auto g0 = random_pixels(4 * 4, 7), g1 = random_pixels(4 * 4, 8), big = random_pixels(8 * 8, 9);
  REQUIRE(stbi_write_png(dir.file("c0/0.png").c_str(), 4, 4, 1, g0.data(), 4));
  REQUIRE(stbi_write_png(dir.file("c1/1.png").c_str(), 4, 4, 1, g1.data(), 4));
  REQUIRE(stbi_write_png(dir.file("c1/2.png").c_str(), 8, 8, 1, big.data(), 8));

  const std::string msg = error_message([&] { load_image_folder(dir.str()); });
  CHECK_MESSAGE(msg.find("2.png") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("8x8") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("4x4") != std::string::npos, msg);

  ImageFolderOptions nearest;
  nearest.resize = ResizeMode::Nearest;
  const Dataset ds = load_image_folder(dir.str(), nearest);
  REQUIRE(ds.images.shape() == Shape{3, 1, 4, 4});  // grey detected, size of the first image
  check_image(ds, 0, g0, 4, 4, 1);
  check_image(ds, 1, g1, 4, 4, 1);
  // Halving with nearest picks the pixel at (2y+1, 2x+1) (the centre rounds up).
  const uint8_t* px = ds.images.data<uint8_t>() + 2 * 16;
  int bad = 0;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      if (px[y * 4 + x] != big[(2 * y + 1) * 8 + 2 * x + 1]) ++bad;
  CHECK(bad == 0);

  // Bilinear halving = rounded mean of each 2x2 block.
  ImageFolderOptions bilinear;
  bilinear.resize = ResizeMode::Bilinear;
  bilinear.channels = 3;  // grey replicated by the decoder
  const Dataset rgb = load_image_folder(dir.str(), bilinear);
  REQUIRE(rgb.images.shape() == Shape{3, 3, 4, 4});
  const uint8_t* q = rgb.images.data<uint8_t>() + 2 * 48;
  bad = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        const double mean = (big[2 * y * 8 + 2 * x] + big[2 * y * 8 + 2 * x + 1] + big[(2 * y + 1) * 8 + 2 * x] +
                             big[(2 * y + 1) * 8 + 2 * x + 1]) / 4.0;
        if (std::abs(q[(c * 4 + y) * 4 + x] - mean) > 0.5 + 1e-9) ++bad;
      }
  CHECK(bad == 0);

  // Explicit target size in check mode.
  ImageFolderOptions fixed;
  fixed.height = 8;
  fixed.width = 8;
  const std::string msg2 = error_message([&] { load_image_folder(dir.str(), fixed); });
  CHECK_MESSAGE(msg2.find("0.png") != std::string::npos, msg2);

  std::filesystem::create_directories(dir.file("empty_class"));
  const std::string msg3 = error_message([&] { load_image_folder(dir.str(), nearest); });
  CHECK_MESSAGE(msg3.find("empty_class") != std::string::npos, msg3);
}
