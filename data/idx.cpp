// IDX parsing. Offsets in errors are byte offsets in the (decompressed) IDX
// stream, which equal file offsets for raw files.
#include "data/idx.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "data/file_io.h"

namespace basin::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

struct IdxFile {
  std::vector<uint8_t> bytes;
  std::vector<int64_t> dims;
  int64_t header_bytes = 0;
  bool gzip = false;
};

std::string where(const std::string& path, bool gzip) {
  return gzip ? path + " (gzip; offsets in the decompressed stream)" : path;
}

// Reads header + the first `limit` items (all when limit == 0), checking the
// magic, the dims and that the payload is exactly (or at least, with a limit) there.
// Larger than any real IDX file (256 TiB); keeps every size product in int64.
constexpr int64_t kMaxIdxBytes = int64_t{1} << 48;

IdxFile read_idx(const std::string& path, uint32_t magic, int ndims, int64_t limit) {
  BASIN_CHECK(std::filesystem::is_regular_file(path), "IDX file '", path, "' not found");
  IdxFile file;
  file.gzip = is_gzip_file(path);
  const std::string name = where(path, file.gzip);
  const int64_t header = 4 + 4 * ndims;
  // First the header alone, so a limit can bound the rest of the read.
  std::vector<uint8_t> head = read_maybe_gzip(path, header);
  if (static_cast<int64_t>(head.size()) < 4)
    format_error(name, head.size(), cat("truncated header: ", head.size(), " bytes, need 4 for the magic"));
  const uint32_t got_magic = read_be32(head.data());
  if (got_magic != magic)
    format_error(name, 0, cat("wrong magic 0x", std::hex, got_magic, ", expected 0x", magic, std::dec,
                              magic == kImagesMagic ? " (uint8 images, 3 dims)" : " (uint8 labels, 1 dim)"));
  if (static_cast<int64_t>(head.size()) < header)
    format_error(name, head.size(), cat("truncated header: ", head.size(), " bytes, need ", header));
  // The header's sizes are bounded before any arithmetic on them, so a corrupt
  // header gets an error instead of a wrapped-around (undefined) size.
  int64_t item_bytes = 1;
  for (int d = 0; d < ndims; ++d) {
    const int64_t dim = read_be32(head.data() + 4 + 4 * d);
    if (d > 0) {
      if (dim <= 0) format_error(name, 4 + 4 * d, cat("dimension ", d, " is zero"));
      if (item_bytes > kMaxIdxBytes / dim)
        format_error(name, 4 + 4 * d, cat("dimension ", d, " (", dim, ") makes one item larger than ",
                                          kMaxIdxBytes, " bytes; the header is corrupt"));
      item_bytes *= dim;
    }
    file.dims.push_back(dim);
  }
  const int64_t count = file.dims[0];
  if (count > 0 && item_bytes > kMaxIdxBytes / count)
    format_error(name, 4, cat("the header announces ", count, " items of ", item_bytes, " bytes, more than ",
                              kMaxIdxBytes, " bytes in all; the header is corrupt"));
  const int64_t keep = limit > 0 ? std::min(limit, count) : count;
  file.bytes = read_maybe_gzip(path, limit > 0 ? static_cast<uint64_t>(header + keep * item_bytes) : 0);
  const int64_t size = static_cast<int64_t>(file.bytes.size());
  const int64_t needed = header + keep * item_bytes;
  if (size < needed) {
    const int64_t complete = (size - header) / item_bytes;
    format_error(name, header + complete * item_bytes,
                 cat("truncated: header says ", count, " items of ", item_bytes, " bytes (", header + count * item_bytes,
                     " bytes in all), the data ends at byte ", size, " inside item ", complete));
  }
  if (limit <= 0 && size > needed)
    format_error(name, needed, cat("trailing data: ", size - needed, " bytes after the ", count,
                                   " items the header announces"));
  file.header_bytes = header;
  file.dims[0] = keep;
  return file;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int64_t limit,
                 int num_classes, const std::string& name) {
  BASIN_CHECK(num_classes >= 0 && num_classes <= 256, "load_idx: num_classes ", num_classes,
              " must be in [0, 256]");
  const IdxFile images = read_idx(images_path, kImagesMagic, 3, limit);
  const IdxFile labels = read_idx(labels_path, kLabelsMagic, 1, limit);
  // With a limit both are clipped to it, so compare the headers' full counts too.
  const int64_t n_images = read_be32(images.bytes.data() + 4), n_labels = read_be32(labels.bytes.data() + 4);
  if (n_images != n_labels)
    format_error(where(labels_path, labels.gzip), 4,
                 cat("count mismatch: ", n_labels, " labels but '", images_path, "' holds ", n_images, " images"));
  const int64_t n = images.dims[0], rows = images.dims[1], cols = images.dims[2];
  const uint8_t* y = labels.bytes.data() + labels.header_bytes;
  int classes = num_classes;
  if (classes == 0) {
    for (int64_t i = 0; i < n; ++i) classes = std::max(classes, int(y[i]) + 1);
  } else {
    for (int64_t i = 0; i < n; ++i)
      if (y[i] >= classes)
        format_error(where(labels_path, labels.gzip), labels.header_bytes + i,
                     cat("label ", int(y[i]), " of item ", i, " out of range [0, ", classes, ")"));
  }
  Dataset ds;
  ds.images = empty({n, 1, rows, cols}, DType::U8);
  if (n > 0) std::memcpy(ds.images.data<uint8_t>(), images.bytes.data() + images.header_bytes, n * rows * cols);
  ds.labels = empty({n}, DType::I64);
  int64_t* out = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) out[i] = y[i];
  ds.num_classes = std::max(classes, 1);
  for (int c = 0; c < ds.num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  ds.name = name;
  ds.source = images_path;
  if (has_standard_normalization(name) && standard_normalization(name).mean.size() == 1) {
    const Normalization norm = standard_normalization(name);
    ds.mean = norm.mean;
    ds.std = norm.std;
  } else {
    BASIN_CHECK(n > 0, "load_idx: '", images_path, "' holds no images");
    const Normalization norm = compute_normalization(ds.images);
    ds.mean = norm.mean;
    ds.std = norm.std;
  }
  return ds;
}

Dataset load_fashion_mnist(const std::string& split, int64_t limit, const std::string& dir) {
  std::string prefix;
  int64_t expected = 0;
  if (split == "train") {
    prefix = "train";
    expected = 60000;
  } else if (split == "test") {
    prefix = "t10k";
    expected = 10000;
  } else {
    fail(cat("load_fashion_mnist: split must be \"train\" or \"test\", got \"", split, "\""));
  }
  // Debian ships the .gz files; accept unpacked ones too.
  auto find = [&](const std::string& base) {
    const std::filesystem::path gz = std::filesystem::path(dir) / (base + ".gz");
    const std::filesystem::path raw = std::filesystem::path(dir) / base;
    if (std::filesystem::is_regular_file(gz)) return gz.string();
    if (std::filesystem::is_regular_file(raw)) return raw.string();
    fail(cat("Fashion-MNIST file '", gz.string(), "' not found; install the Debian package "
             "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass the directory "
             "holding ", base, "[.gz]"));
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  Dataset ds = load_idx(images, labels, limit, 10, "fashion-mnist");
  if (limit <= 0) {
    BASIN_CHECK(ds.size() == expected, "Fashion-MNIST ", split, " file '", images, "' holds ", ds.size(),
                " images, expected ", expected);
    // The published splits are balanced: report the label where a class first
    // goes over its share (IDX label header: 8 bytes).
    const int64_t per_class = expected / 10;
    std::vector<int64_t> counts(10, 0);
    const int64_t* y = ds.labels.data<int64_t>();
    for (int64_t i = 0; i < ds.size(); ++i)
      if (++counts[y[i]] > per_class)
        format_error(labels, 8 + i, cat("per-class count mismatch: class ", y[i], " has more than ", per_class,
                                        " samples (offset in the decompressed stream)"));
  }
  ds.class_names = fashion_mnist_class_names();
  ds.source = dir + " (" + split + ")";
  return ds;
}

}  // namespace basin::data
