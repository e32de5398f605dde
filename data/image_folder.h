// Image-folder datasets: root/<class>/<image>, one subfolder per class, class
// index = position of the folder name in sorted order. PNG, JPEG and BMP files
// are decoded with stb_image to grey (1 channel) or RGB (3 channels).
#pragma once
#include <string>

#include "data/dataset.h"

namespace basin::data {

enum class ResizeMode {
  Check,     // every image must already have the target size (error naming the file)
  Nearest,   // resample to the target size, nearest neighbour
  Bilinear,  // resample to the target size, bilinear (pixel centres aligned)
};

struct ImageFolderOptions {
  int height = 0, width = 0;  // 0: the size of the first image (sorted order)
  int channels = 0;           // 1 or 3; 0: 1 when the first image is grey, else 3
  ResizeMode resize = ResizeMode::Check;
};

// Files other than .png/.jpg/.jpeg/.bmp (any case) and hidden files are
// skipped; an empty class folder or an undecodable image is an error.
// Normalisation constants are computed from the loaded pixels.
Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

// Resample one interleaved HWC uint8 image (exposed for tests).
std::vector<uint8_t> resize_image(const uint8_t* src, int src_h, int src_w, int channels, int dst_h,
                                  int dst_w, ResizeMode mode);

}  // namespace basin::data
