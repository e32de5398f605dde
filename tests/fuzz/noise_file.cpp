// The `file:PATH` label-noise list: one integer label per line for a dataset
// of 16 samples in 10 classes.
#include "core/tensor.h"
#include "data/noise.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = basin::fuzz::write_input("labels.txt", data, size);
  static const basin::data::Dataset ds = [] {
    basin::data::Dataset d;
    d.images = basin::zeros({16, 1, 2, 2}, basin::DType::U8);
    std::vector<int64_t> labels(16);
    for (int i = 0; i < 16; ++i) labels[i] = i % 10;
    d.labels = basin::from_vector(labels, {16});
    d.num_classes = 10;
    d.name = "fuzz";
    return d;
  }();
  basin::fuzz::expect_clean([&] { basin::data::apply_noise(ds, "file:" + path, 1); });
  return 0;
}
