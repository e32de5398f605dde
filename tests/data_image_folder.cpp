// Image-folder loader on tiny PNG/BMP files written with stb_image_write:
// class order, pixel layout (HWC file -> CHW tensor), grey images, the
// wrong-size error naming the file, --resize against images whose resampling
// is known without stb (constants, linear ramps), and mixed grey/RGB folders.
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

TEST_CASE("data: image folder grey images, wrong size error naming the file, resizing") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("c0"));
  std::filesystem::create_directories(dir.file("c1"));
  const auto g0 = random_pixels(4 * 4, 7), g1 = random_pixels(4 * 4, 8);
  // 8x8 horizontal ramp 10 + 20 x: halving centres output pixel k between source
  // pixels 2k and 2k+1, so any normalised symmetric filter gives 20 + 40 k there,
  // except at the two edge columns, where the filter reaches clamped pixels.
  std::vector<uint8_t> ramp(8 * 8);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) ramp[y * 8 + x] = static_cast<uint8_t>(10 + 20 * x);
  REQUIRE(stbi_write_png(dir.file("c0/0.png").c_str(), 4, 4, 1, g0.data(), 4));
  REQUIRE(stbi_write_png(dir.file("c1/1.png").c_str(), 4, 4, 1, g1.data(), 4));
  REQUIRE(stbi_write_png(dir.file("c1/2.png").c_str(), 8, 8, 1, ramp.data(), 8));

  const std::string msg = error_message([&] { load_image_folder(dir.str()); });
  CHECK_MESSAGE(msg.find("c1/2.png") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("8x8") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("4x4") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("--resize") != std::string::npos, msg);

  ImageFolderOptions to4;
  to4.width = 4;
  to4.height = 4;
  const Dataset ds = load_image_folder(dir.str(), to4);
  REQUIRE(ds.images.shape() == Shape{3, 1, 4, 4});  // all grey: 1 channel
  check_image(ds, 0, g0, 4, 4, 1);                   // already 4x4: untouched
  check_image(ds, 1, g1, 4, 4, 1);
  const uint8_t* px = ds.images.data<uint8_t>() + 2 * 16;
  int bad = 0;
  for (int y = 0; y < 4; ++y)
    for (int x = 1; x < 3; ++x)
      if (std::abs(px[y * 4 + x] - (20 + 40 * x)) > 1) ++bad;  // +-1: rounding to uint8
  CHECK(px[0] < 40);  // edge columns still follow the ramp's direction
  CHECK(px[3] > 120);
  CHECK(bad == 0);
  CHECK_MESSAGE(ds.provenance.find("resampled") != std::string::npos, ds.provenance);

  std::filesystem::create_directories(dir.file("empty_class"));
  const std::string msg3 = error_message([&] { load_image_folder(dir.str(), to4); });
  CHECK_MESSAGE(msg3.find("empty_class") != std::string::npos, msg3);
}

TEST_CASE("data: image folder --resize against constants and a linear ramp (stb_image_resize)") {
  // A constant image stays constant whatever the filter (weights sum to 1).
  const std::vector<uint8_t> constant(7 * 5 * 3, 93);
  const std::vector<uint8_t> up = resize_image(constant.data(), 5, 7, 3, 12, 16);
  REQUIRE(up.size() == 12u * 16 * 3);
  for (uint8_t v : up) CHECK(v == 93);
  // Upsampling a ramp 2x: Catmull-Rom reproduces linear functions, so away
  // from the clamped edges pixel x is the ramp at source x' = (x + 0.5) / 2 - 0.5.
  const int w = 16, h = 3;
  std::vector<uint8_t> ramp(w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) ramp[y * w + x] = static_cast<uint8_t>(8 + 15 * x);
  const std::vector<uint8_t> big = resize_image(ramp.data(), h, w, 1, 2 * h, 2 * w);
  int bad = 0;
  for (int y = 0; y < 2 * h; ++y)
    for (int x = 4; x < 2 * w - 4; ++x) {
      const double expected = 8 + 15 * ((x + 0.5) / 2 - 0.5);
      if (std::abs(big[y * 2 * w + x] - expected) > 1.0) ++bad;
    }
  CHECK(bad == 0);
  CHECK_THROWS_AS(resize_image(ramp.data(), h, w, 1, 0, 4), Error);
}

TEST_CASE("data: image folder mixing grey and RGB converts to the channel count asked for") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("a"));
  std::filesystem::create_directories(dir.file("b"));
  const int h = 3, w = 4;
  const auto grey = random_pixels(h * w, 21), rgb = random_pixels(h * w * 3, 22);
  REQUIRE(stbi_write_png(dir.file("a/grey.png").c_str(), w, h, 1, grey.data(), w));
  REQUIRE(stbi_write_png(dir.file("b/rgb.png").c_str(), w, h, 3, rgb.data(), w * 3));

  // Default: a colour image is present, so 3 channels; the grey one replicated.
  const Dataset three = load_image_folder(dir.str());
  REQUIRE(three.images.shape() == Shape{2, 3, h, w});
  std::vector<uint8_t> grey_rgb;
  for (uint8_t v : grey) grey_rgb.insert(grey_rgb.end(), {v, v, v});
  check_image(three, 0, grey_rgb, h, w, 3);
  check_image(three, 1, rgb, h, w, 3);
  CHECK_MESSAGE(three.provenance.find("colour images found") != std::string::npos, three.provenance);

  // --channels 1: the colour image reduced to luma (77 R + 150 G + 29 B) >> 8.
  ImageFolderOptions one;
  one.channels = 1;
  const Dataset g = load_image_folder(dir.str(), one);
  REQUIRE(g.images.shape() == Shape{2, 1, h, w});
  check_image(g, 0, grey, h, w, 1);
  std::vector<uint8_t> luma;
  for (int k = 0; k < h * w; ++k) luma.push_back(static_cast<uint8_t>((77 * rgb[3 * k] + 150 * rgb[3 * k + 1] + 29 * rgb[3 * k + 2]) >> 8));
  check_image(g, 1, luma, h, w, 1);

  // A file that is not an image it claims to be is named.
  basin::test::write_bytes(dir.file("b/broken.png"), {'n', 'o', 't'});
  const std::string msg = error_message([&] { load_image_folder(dir.str()); });
  CHECK_MESSAGE(msg.find("b/broken.png") != std::string::npos, msg);
}

// Found by the image_folder fuzz target (docs/reliability.md): a PNG whose
// broken chunk list makes stb_image read an empty chunk into a null buffer
// (memcpy(NULL, p, 0)). It is refused with an error naming the file. (The sanitizer build replays the same bytes from
// tests/fuzz/corpus/image_folder/regress_empty_png_chunk.)
TEST_CASE("data: image folder with a PNG holding an empty chunk and bad CRCs") {
  const std::vector<uint8_t> png = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
      0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x10, 0x50, 0x54, 0x78, 0x9c, 0x63, 0x10, 0x50, 0x60, 0x30,
      0x70, 0x00, 0x00, 0x01, 0x76, 0x00, 0x48, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  TempDir dir;
  std::filesystem::create_directories(dir.file("a"));
  basin::test::write_bytes(dir.file("a/0.png"), png);
  const std::string msg = basin::test::error_message([&] { basin::data::load_image_folder(dir.str()); });
  CHECK_MESSAGE(msg.find("a/0.png': cannot decode: PNG not supported") != std::string::npos, msg);
}
