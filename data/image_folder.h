// Image-folder datasets: root/<class>/<image>, one subfolder per class, class
// index = position of the folder name in sorted order. PNG, JPEG and BMP files
// are decoded with stb_image to one channel count (grey or RGB), optionally
// resampled to one size with stb_image_resize.
#pragma once
#include <string>

#include "data/dataset.h"

namespace basin::data {

struct ImageFolderOptions {
  // 0x0: no resampling, every image must have the first image's size (an
  // error names the first file that differs). Otherwise every image whose
  // size differs is resampled to width x height with stb_image_resize.
  int height = 0, width = 0;
  // 1 or 3; 0: 3 when any image has colour, else 1. Grey images are
  // replicated to RGB and colour images reduced to luma (stb_image's
  // (77 R + 150 G + 29 B) >> 8); an alpha channel is dropped.
  int channels = 0;
};

// Files other than .png/.jpg/.jpeg/.bmp (any case) and hidden files are
// skipped; an empty class folder or an undecodable image is an error naming
// the file. Normalisation constants are computed from the loaded pixels.
Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

// Resample one interleaved HWC uint8 image with stb_image_resize (its default
// filters: Catmull-Rom up, Mitchell down; edges clamped; exposed for tests).
std::vector<uint8_t> resize_image(const uint8_t* src, int src_h, int src_w, int channels, int dst_h, int dst_w);

}  // namespace basin::data
