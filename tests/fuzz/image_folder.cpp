// Image decoding for folder datasets: the input becomes one image file of a
// two-class folder whose other class holds a fixed 2x2 grey PNG. The first
// byte picks the extension (.png .jpg .bmp) and the options (resampling to
// 4x4, forced channels), so both the same-size check and stb_image_resize run.
#include "data/image_folder.h"
#include "fuzz_support.h"

namespace {
// A valid 2x2 8-bit grey PNG.
const uint8_t kTinyPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57, 0xdd, 0x52,
    0xf8, 0x00, 0x00, 0x00, 0x0e, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x10, 0x50, 0x60, 0x30,
    0x70, 0x00, 0x00, 0x01, 0x76, 0x00, 0xa1, 0xec, 0x30, 0x8a, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x49,
    0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kExtensions[] = {"png", "jpg", "bmp", "png"};
  const uint8_t mode = data[0];
  const std::filesystem::path root = basin::fuzz::scratch_dir() / "folder";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  basin::fuzz::write_input("folder/a/0.png", kTinyPng, sizeof(kTinyPng));
  basin::fuzz::write_input(std::string("folder/b/0.") + kExtensions[mode & 3], data + 1, size - 1);
  basin::data::ImageFolderOptions options;
  if (mode & 4) options.height = options.width = 4;
  options.channels = (mode & 8) ? 3 : 0;
  basin::fuzz::expect_clean([&] { basin::data::load_image_folder(root.string(), options); });
  return 0;
}
