// Image-folder loader over stb_image and stb_image_resize (their
// implementations are compiled in data/stb_impl.cpp).
#include "data/image_folder.h"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace basin::data {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

}  // namespace

std::vector<uint8_t> resize_image(const uint8_t* src, int src_h, int src_w, int channels, int dst_h, int dst_w) {
  BASIN_CHECK(src_h > 0 && src_w > 0 && dst_h > 0 && dst_w > 0 && channels > 0,
              "resize_image: bad sizes ", src_h, "x", src_w, " -> ", dst_h, "x", dst_w);
  std::vector<uint8_t> out(static_cast<size_t>(dst_h) * dst_w * channels);
  BASIN_CHECK(stbir_resize_uint8(src, src_w, src_h, 0, out.data(), dst_w, dst_h, 0, channels) == 1,
              "resize_image: stb_image_resize failed for ", src_w, "x", src_h, " -> ", dst_w, "x", dst_h);
  return out;
}

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options) {
  BASIN_CHECK(fs::is_directory(root), "image folder '", root, "' is not a directory");
  BASIN_CHECK(options.channels == 0 || options.channels == 1 || options.channels == 3,
              "image folder '", root, "': channels must be 0 (auto), 1 or 3, got ", options.channels);
  BASIN_CHECK(options.height >= 0 && options.width >= 0 && (options.height == 0) == (options.width == 0),
              "image folder '", root, "': give both height and width, or neither");
  std::vector<std::string> classes;
  for (const fs::directory_entry& e : fs::directory_iterator(root))
    if (e.is_directory() && !is_hidden(e.path())) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  BASIN_CHECK(!classes.empty(), "image folder '", root, "' has no class subfolders (expected root/<class>/<image>)");
  BASIN_CHECK(classes.size() <= 100000, "image folder '", root, "': too many classes");

  std::vector<std::pair<std::string, int64_t>> files;  // path, label
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> in_class;
    for (const fs::directory_entry& e : fs::directory_iterator(fs::path(root) / classes[c]))
      if (e.is_regular_file() && !is_hidden(e.path()) && is_image_file(e.path()))
        in_class.push_back(e.path().string());
    BASIN_CHECK(!in_class.empty(), "image folder '", root, "': class folder '", classes[c],
                "' holds no .png/.jpg/.jpeg/.bmp files");
    std::sort(in_class.begin(), in_class.end());
    for (const std::string& f : in_class) files.emplace_back(f, static_cast<int64_t>(c));
  }

  // Channels and size from the headers, before any pixel is decoded.
  int height = options.height, width = options.width, channels = options.channels;
  bool any_colour = false;
  for (size_t i = 0; i < files.size(); ++i) {
    int w = 0, h = 0, comp = 0;
    BASIN_CHECK(stbi_info(files[i].first.c_str(), &w, &h, &comp), "image file '", files[i].first,
                "': cannot read: ", stbi_failure_reason());
    any_colour |= comp >= 3;
    if (height == 0) {
      height = h;
      width = w;
    } else if (options.height == 0 && (h != height || w != width)) {
      fail(cat("image file '", files[i].first, "' is ", w, "x", h, " (width x height), expected ", width, "x", height,
               " like '", files[0].first, "' (--resize WxH resamples every image to one size)"));
    }
  }
  if (channels == 0) channels = any_colour ? 3 : 1;
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t plane = int64_t(height) * width;
  Dataset ds;
  ds.images = empty({n, channels, height, width}, DType::U8);
  ds.labels = empty({n}, DType::I64);
  uint8_t* px = ds.images.data<uint8_t>();
  int64_t* y = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string& path = files[i].first;
    int w = 0, h = 0, comp = 0;
    // stb_image converts to `channels` itself: grey -> RGB copies, RGB -> grey luma.
    std::unique_ptr<unsigned char, StbFree> pixels(stbi_load(path.c_str(), &w, &h, &comp, channels));
    BASIN_CHECK(pixels != nullptr, "image file '", path, "': cannot decode: ", stbi_failure_reason());
    std::vector<uint8_t> resized;
    const uint8_t* hwc = pixels.get();
    if (h != height || w != width) {
      resized = resize_image(hwc, h, w, channels, height, width);
      hwc = resized.data();
    }
    // HWC interleaved -> CHW planes.
    uint8_t* dst = px + i * channels * plane;
    for (int64_t k = 0; k < plane; ++k)
      for (int c = 0; c < channels; ++c) dst[c * plane + k] = hwc[k * channels + c];
    y[i] = files[i].second;
  }
  ds.num_classes = static_cast<int>(classes.size());
  ds.class_names = classes;
  std::string trimmed = root;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  ds.name = "folder:" + fs::path(trimmed).filename().string();
  ds.source = root;
  const Normalization norm = compute_normalization(ds.images);
  ds.mean = norm.mean;
  ds.std = norm.std;
  std::string mean_text, std_text;
  for (int c = 0; c < channels; ++c) {
    mean_text += cat(c ? ", " : "", norm.mean[c]);
    std_text += cat(c ? ", " : "", norm.std[c]);
  }
  ds.provenance = cat("image folder ", root, ": ", classes.size(), " classes named by its subfolders; ", n,
                      " images as ", channels, "x", height, "x", width,
                      options.channels != 0 ? " (channels as asked)"
                                            : (any_colour ? " (3 channels: colour images found)" : " (1 channel: every image grey)"),
                      options.height != 0 ? " (resampled where needed)" : "", "; mean [", mean_text, "], std [",
                      std_text, "] computed from the pixels");
  return ds;
}

}  // namespace basin::data
