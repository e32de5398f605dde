// CIFAR binary parsing with the checks of docs/algorithms.md "Datasets": size a whole
// number of records, labels in range, record and per-class counts as the format
// fixes them; each failure names the file and the byte offset of the problem.
#include "data/cifar.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "data/dataset_metadata.h"
#include "data/file_io.h"
#include "data/noise.h"

namespace basin::data {
namespace {

struct RecordFormat {
  int label_bytes;         // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
  int num_classes;         // range of the fine (or only) label
  int num_coarse_classes;  // CIFAR-100 only
  int64_t record_bytes() const { return label_bytes + kCifarImageBytes; }
};

// Appends the records of one file; returns how many it held.
int64_t parse_cifar_file(const std::string& path, const RecordFormat& format,
                         int64_t expected_records, std::vector<uint8_t>& pixels,
                         std::vector<int64_t>& labels, std::vector<int64_t>& coarse) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const int64_t size = static_cast<int64_t>(bytes.size());
  const int64_t record = format.record_bytes();
  if (size == 0) format_error(path, 0, "empty file, expected records of " + std::to_string(record) + " bytes");
  if (size % record != 0) {
    const int64_t last = (size / record) * record;
    format_error(path, last,
                 cat("truncated record: file size ", size, " is not a multiple of the record size ",
                     record, " (the record at this offset has only ", size - last, " bytes)"));
  }
  const int64_t n = size / record;
  if (expected_records > 0 && n != expected_records)
    format_error(path, std::min(n, expected_records) * record,
                 cat("wrong record count: ", n, " records, expected ", expected_records));
  const size_t pixel_base = pixels.size();
  pixels.resize(pixel_base + static_cast<size_t>(n * kCifarImageBytes));
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    if (format.label_bytes == 2) {
      if (rec[0] >= format.num_coarse_classes)
        format_error(path, r * record,
                     cat("coarse label ", int(rec[0]), " of record ", r, " out of range [0, ",
                         format.num_coarse_classes, ")"));
      coarse.push_back(rec[0]);
    }
    const int fine = rec[format.label_bytes - 1];
    if (fine >= format.num_classes)
      format_error(path, r * record + format.label_bytes - 1,
                   cat("label ", fine, " of record ", r, " out of range [0, ", format.num_classes, ")"));
    labels.push_back(fine);
    std::memcpy(pixels.data() + pixel_base + r * kCifarImageBytes, rec + format.label_bytes,
                kCifarImageBytes);
  }
  return n;
}

// Per-class counts fixed by the format: report the record where a class first
// goes over its share (some class must, when the total is right and one is short).
void check_class_counts(const std::vector<std::string>& files, const std::vector<int64_t>& records_per_file,
                        const std::vector<int64_t>& labels, int num_classes, int64_t per_class,
                        int64_t record_bytes, int label_offset, const char* what) {
  std::vector<int64_t> counts(num_classes, 0);
  int64_t global = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    for (int64_t r = 0; r < records_per_file[f]; ++r, ++global) {
      const int64_t y = labels[global];
      if (++counts[y] > per_class)
        format_error(files[f], r * record_bytes + label_offset,
                     cat("per-class count mismatch: ", what, " class ", y, " has more than ",
                         per_class, " samples (record ", r, " is number ", counts[y], ")"));
    }
  }
  for (int c = 0; c < num_classes; ++c)
    if (counts[c] != per_class)
      format_error(files.back(), records_per_file.back() * record_bytes,
                   cat("per-class count mismatch: ", what, " class ", c, " has ", counts[c],
                       " samples, expected ", per_class));
}

Tensor tensor_from(const std::vector<int64_t>& values) {
  Tensor t = empty({static_cast<int64_t>(values.size())}, DType::I64);
  if (!values.empty()) std::memcpy(t.data<int64_t>(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor images_from(const std::vector<uint8_t>& pixels, int64_t n) {
  Tensor t = empty({n, 3, 32, 32}, DType::U8);
  if (n > 0) std::memcpy(t.data<uint8_t>(), pixels.data(), pixels.size());
  return t;
}

void set_normalization(Dataset& ds) {
  if (has_standard_normalization(ds.name) && standard_normalization(ds.name).mean.size() ==
                                                 static_cast<size_t>(ds.channels())) {
    const Normalization norm = standard_normalization(ds.name);
    ds.mean = norm.mean;
    ds.std = norm.std;
  } else {
    const Normalization norm = compute_normalization(ds.images);
    ds.mean = norm.mean;
    ds.std = norm.std;
  }
}

std::string join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

bool exists_in(const std::string& dir, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (!std::filesystem::exists(join(dir, n))) return false;
  return true;
}

constexpr const char* kCifarHome = "https://www.cs.toronto.edu/~kriz/cifar.html";

// The binary files a loader needs; when one is missing, say why as precisely
// as the folder allows: torchvision's pickled "python version" (the common
// mistake), the archive's own subfolder, or simply a missing file.
void check_binary_files(const std::string& dir, const std::vector<std::string>& files, const std::string& split,
                        bool cifar100) {
  namespace fs = std::filesystem;
  auto reads = [](bool hundred) {
    return hundred ? std::string("train.bin and test.bin") : "data_batch_1.bin ... data_batch_5.bin and test_batch.bin";
  };
  auto binary = [](bool hundred) {
    return hundred ? cat("the \"CIFAR-100 binary version\" (cifar-100-binary.tar.gz) from ", kCifarHome,
                         "; it unpacks to cifar-100-binary/, the folder to give as cifar100:DIR")
                   : cat("the \"CIFAR-10 binary version\" (cifar-10-binary.tar.gz) from ", kCifarHome,
                         "; it unpacks to cifar-10-batches-bin/, the folder to give as cifar10:DIR");
  };
  const char* what = cifar100 ? "CIFAR-100" : "CIFAR-10";
  BASIN_CHECK(fs::is_directory(dir), what, " folder '", dir, "' not found (basin reads ", reads(cifar100), " from ",
              binary(cifar100), ")");
  for (const std::string& f : files) {
    if (fs::is_regular_file(f)) continue;
    if (exists_in(dir, {"data_batch_1", "batches.meta"}))
      fail(cat("'", dir, "' holds the Python (pickled) version of CIFAR-10 (data_batch_1, ..., test_batch, "
               "batches.meta: what torchvision downloads); basin reads ", reads(false), ", ", binary(false)));
    if (exists_in(dir, {"train", "test", "meta"}))
      fail(cat("'", dir, "' holds the Python (pickled) version of CIFAR-100 (train, test, meta: what torchvision "
               "downloads); basin reads ", reads(true), ", ", binary(true)));
    for (const char* sub : {"cifar-10-batches-bin", "cifar-100-binary"})
      if (fs::is_directory(join(dir, sub)))
        fail(cat(what, " ", split, " file '", f, "' not found; the binary version is one folder down: give '",
                 join(dir, sub), "'"));
    fail(cat(what, " ", split, " file '", f, "' not found (basin reads ", reads(cifar100), ", ", binary(cifar100),
             ")"));
  }
}

std::string asym_text(const std::vector<std::string>& names, const std::vector<int64_t>& targets) {
  std::string out;
  for (size_t c = 0; c < targets.size(); ++c)
    if (targets[c] >= 0) out += (out.empty() ? "" : ", ") + names[c] + "->" + names[targets[c]];
  return out;
}

std::string numbers_text(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ", ") + cat(x);
  return out;
}

}  // namespace

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

const std::vector<std::string>& cifar100_class_names() {
  static const std::vector<std::string> names = {
      "apple",      "aquarium_fish", "baby",         "bear",       "beaver",      "bed",
      "bee",        "beetle",        "bicycle",      "bottle",     "bowl",        "boy",
      "bridge",     "bus",           "butterfly",    "camel",      "can",         "castle",
      "caterpillar", "cattle",       "chair",        "chimpanzee", "clock",       "cloud",
      "cockroach",  "couch",         "crab",         "crocodile",  "cup",         "dinosaur",
      "dolphin",    "elephant",      "flatfish",     "forest",     "fox",         "girl",
      "hamster",    "house",         "kangaroo",     "keyboard",   "lamp",        "lawn_mower",
      "leopard",    "lion",          "lizard",       "lobster",    "man",         "maple_tree",
      "motorcycle", "mountain",      "mouse",        "mushroom",   "oak_tree",    "orange",
      "orchid",     "otter",         "palm_tree",    "pear",       "pickup_truck", "pine_tree",
      "plain",      "plate",         "poppy",        "porcupine",  "possum",      "rabbit",
      "raccoon",    "ray",           "road",         "rocket",     "rose",        "sea",
      "seal",       "shark",         "shrew",        "skunk",      "skyscraper",  "snail",
      "snake",      "spider",        "squirrel",     "streetcar",  "sunflower",   "sweet_pepper",
      "table",      "tank",          "telephone",    "television", "tiger",       "tractor",
      "train",      "trout",         "tulip",        "turtle",     "wardrobe",    "whale",
      "willow_tree", "wolf",         "woman",        "worm"};
  return names;
}

Dataset load_cifar10(const std::string& dir, const std::string& split, bool strict) {
  std::vector<std::string> files;
  int64_t per_class = 0;
  if (split == "train") {
    for (int b = 1; b <= 5; ++b) files.push_back(join(dir, cat("data_batch_", b, ".bin")));
    per_class = 5000;
  } else if (split == "test") {
    files.push_back(join(dir, "test_batch.bin"));
    per_class = 1000;
  } else {
    fail(cat("load_cifar10: split must be \"train\" or \"test\", got \"", split, "\""));
  }
  check_binary_files(dir, files, split, false);
  // Converted data (basin convert) says what it is; without that file the
  // folder is taken to be CIFAR-10 itself.
  const std::string metadata_path = join(dir, kDatasetMetadataFile);
  const bool has_metadata = std::filesystem::exists(metadata_path);
  DatasetMetadata metadata;
  if (has_metadata) metadata = read_dataset_metadata(metadata_path);
  const int num_classes = has_metadata ? static_cast<int>(metadata.class_names.size()) : 10;
  const RecordFormat format{1, num_classes, 0};
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels, coarse;
  std::vector<int64_t> records;
  // CIFAR-10's own record and class counts mean nothing for converted data.
  const bool check_counts = strict && !has_metadata;
  for (const std::string& f : files)
    records.push_back(parse_cifar_file(f, format, check_counts ? 10000 : 0, pixels, labels, coarse));
  if (check_counts)
    check_class_counts(files, records, labels, 10, per_class, format.record_bytes(), 0, "CIFAR-10");
  Dataset ds;
  ds.images = images_from(pixels, static_cast<int64_t>(labels.size()));
  ds.labels = tensor_from(labels);
  ds.num_classes = 10;
  ds.class_names = cifar10_class_names();
  ds.name = "cifar10";
  ds.source = cat(dir, " (", split, ")");
  set_normalization(ds);
  if (has_metadata) {
    apply_dataset_metadata(ds, metadata, metadata_path, split);
  } else {
    ds.provenance = cat("no ", kDatasetMetadataFile, " in ", dir, ": CIFAR-10's class names, mean [",
                        numbers_text(ds.mean), "], std [", numbers_text(ds.std), "] and asym mapping (",
                        asym_text(ds.class_names, asym_targets("cifar10", 10)), ")");
    if (!strict)
      ds.provenance += cat("; these files are not the canonical CIFAR-10 (", ds.size(), " ", split,
                           " records): if an older basin convert wrote them, convert again to get the metadata");
  }
  return ds;
}

Dataset load_cifar100(const std::string& dir, const std::string& split, bool strict) {
  std::string file;
  int64_t expected = 0, per_class = 0;
  if (split == "train") {
    file = join(dir, "train.bin");
    expected = 50000;
    per_class = 500;
  } else if (split == "test") {
    file = join(dir, "test.bin");
    expected = 10000;
    per_class = 100;
  } else {
    fail(cat("load_cifar100: split must be \"train\" or \"test\", got \"", split, "\""));
  }
  check_binary_files(dir, {file}, split, true);
  const RecordFormat format{2, 100, 20};
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels, coarse;
  const int64_t n = parse_cifar_file(file, format, strict ? expected : 0, pixels, labels, coarse);
  if (strict)
    check_class_counts({file}, {n}, labels, 100, per_class, format.record_bytes(), 1, "CIFAR-100 fine");
  Dataset ds;
  ds.images = images_from(pixels, n);
  ds.labels = tensor_from(labels);
  ds.coarse_labels = tensor_from(coarse);
  ds.num_classes = 100;
  ds.class_names = cifar100_class_names();
  ds.name = "cifar100";
  ds.source = cat(dir, " (", split, ")");
  set_normalization(ds);
  ds.provenance = cat("CIFAR-100 from ", dir, ": its class names, mean [", numbers_text(ds.mean), "], std [",
                      numbers_text(ds.std), "]");
  return ds;
}

Dataset load_cifar10_file(const std::string& path, const std::string& name, int num_classes) {
  BASIN_CHECK(num_classes >= 1 && num_classes <= 256, "load_cifar10_file: num_classes ", num_classes,
              " must be in [1, 256]");
  const RecordFormat format{1, num_classes, 0};
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels, coarse;
  const int64_t n = parse_cifar_file(path, format, 0, pixels, labels, coarse);
  Dataset ds;
  ds.images = images_from(pixels, n);
  ds.labels = tensor_from(labels);
  ds.num_classes = num_classes;
  if (name == "cifar10" && num_classes == 10) {
    ds.class_names = cifar10_class_names();
  } else {
    for (int c = 0; c < num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  }
  ds.name = name;
  ds.source = path;
  set_normalization(ds);
  return ds;
}

Tensor cifar_layout(const Tensor& images, const std::string& what) {
  BASIN_CHECK(images.defined() && images.dtype() == DType::U8 && images.dim() == 4, what,
              ": images must be u8 [N, C, H, W], got ", images.defined() ? images.str() : std::string("undefined"));
  const Tensor host = images.to(Device::cpu()).contiguous();
  const int64_t n = host.size(0), c = host.size(1), h = host.size(2), w = host.size(3);
  BASIN_CHECK(c == 1 || c == 3, what, ": images need 1 or 3 channels, got ", c);
  BASIN_CHECK(h <= 32 && w <= 32, what, ": images of ", h, "x", w, " do not fit 32x32 (resize them first)");
  Tensor out = zeros({n, 3, 32, 32}, DType::U8);
  const int64_t top = (32 - h) / 2, left = (32 - w) / 2;
  const uint8_t* src = host.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < 3; ++ch) {
      const uint8_t* plane = src + (i * c + (c == 1 ? 0 : ch)) * h * w;
      uint8_t* d = dst + (i * 3 + ch) * 1024;
      for (int64_t y = 0; y < h; ++y) std::memcpy(d + (y + top) * 32 + left, plane + y * w, w);
    }
  return out;
}

void write_cifar10_binary(const Dataset& dataset, const std::string& path) {
  const Tensor images = cifar_layout(dataset.images, cat("write_cifar10_binary '", path, "'"));
  const int64_t n = images.size(0);
  BASIN_CHECK(dataset.labels.defined() && dataset.labels.numel() == n, "write_cifar10_binary '", path,
              "': need ", n, " labels");
  const std::vector<int64_t> labels = dataset.labels.to_vector<int64_t>();
  const uint8_t* src = images.data<uint8_t>();
  std::vector<uint8_t> bytes(static_cast<size_t>(n * kCifar10RecordBytes), 0);
  for (int64_t i = 0; i < n; ++i) {
    BASIN_CHECK(labels[i] >= 0 && labels[i] <= 255, "write_cifar10_binary '", path, "': label ",
                labels[i], " of sample ", i, " does not fit a byte");
    uint8_t* rec = bytes.data() + i * kCifar10RecordBytes;
    rec[0] = static_cast<uint8_t>(labels[i]);
    std::memcpy(rec + 1, src + i * kCifarImageBytes, kCifarImageBytes);
  }
  write_file_atomic(path, bytes);
}

}  // namespace basin::data
