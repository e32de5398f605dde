// CIFAR-10 / CIFAR-100 binary readers and the CIFAR-10 writer (apps/convert).
// Layout (docs/algorithms.md "Datasets"): records of label byte(s)
// followed by 3072 pixel bytes, 1024 R, 1024 G, 1024 B, each row-major 32x32.
#pragma once
#include <string>

#include "data/dataset.h"

namespace basin::data {

constexpr int64_t kCifarImageBytes = 3 * 32 * 32;
constexpr int64_t kCifar10RecordBytes = 1 + kCifarImageBytes;
constexpr int64_t kCifar100RecordBytes = 2 + kCifarImageBytes;

// dir/data_batch_1..5.bin (split "train") or dir/test_batch.bin ("test").
// strict (the canonical files): every file holds 10000 records and the
// per-class counts are 5000 (train) / 1000 (test). Without strict any whole
// number of records is accepted. Errors name the file and the byte offset.
// When dir holds basin-dataset.json (converted data, see dataset_metadata.h)
// its name, class names, constants and asym mapping replace CIFAR-10's and
// the counts are not checked; Dataset::provenance says which was used.
// A missing file gets an error naming the files read and where the binary
// version comes from (and recognises torchvision's pickled python version).
Dataset load_cifar10(const std::string& dir, const std::string& split, bool strict = true);
// dir/train.bin (50000 records) or dir/test.bin (10000): coarse byte, fine byte,
// pixels. strict: those counts and 500 / 100 samples per fine class.
Dataset load_cifar100(const std::string& dir, const std::string& split, bool strict = true);

// One file in the CIFAR-10 layout with any number of records (e.g. written by
// write_cifar10_binary). `name` picks the normalisation: the standard constants
// when known for 3 channels, else computed from the data.
Dataset load_cifar10_file(const std::string& path, const std::string& name = "cifar10",
                          int num_classes = 10);

// u8 [N, C<=3, H<=32, W<=32] images as CIFAR stores them, u8 [N, 3, 32, 32]:
// zero-padded, centred ((32-H)/2 rows above, the rest below; likewise columns),
// a single grey channel copied to R, G and B. `what` prefixes errors.
Tensor cifar_layout(const Tensor& images, const std::string& what = "cifar_layout");

// Writes `dataset` in the CIFAR-10 layout: 1 label byte + 3072 bytes per sample.
// Images smaller than 32x32 are zero-padded, centred; 1-channel images are
// replicated to RGB. Labels must fit a byte. Written to a temp file, then renamed.
void write_cifar10_binary(const Dataset& dataset, const std::string& path);

const std::vector<std::string>& cifar10_class_names();
const std::vector<std::string>& cifar100_class_names();

}  // namespace basin::data
