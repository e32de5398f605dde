// IDX image + label files, raw or gzip'd. Input: a flags byte (bit 0: gzip the
// images file, bit 1: gzip the labels file, bits 2-3: sample limit 0..3), two
// bytes of images-file length, then the images file and the labels file.
// Bytes that already start with the gzip magic reach zlib's inflate as they are.
#include <zlib.h>

#include "data/idx.h"
#include "fuzz_support.h"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: gzip wrapper
  std::vector<uint8_t> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string write_part(const char* name, bool compress, const uint8_t* data, size_t size) {
  if (!compress) return basin::fuzz::write_input(name, data, size);
  const std::vector<uint8_t> packed = gzip(data, size);
  return basin::fuzz::write_input(name, packed.data(), packed.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  size_t images_size = (size_t(data[1]) << 8) | data[2];
  data += 3;
  size -= 3;
  if (images_size > size) images_size = size;
  const std::string images = write_part("images.idx", mode & 1, data, images_size);
  const std::string labels = write_part("labels.idx", mode & 2, data + images_size, size - images_size);
  basin::fuzz::expect_clean([&] { basin::data::load_idx(images, labels, (mode >> 2) & 3); });
  return 0;
}
