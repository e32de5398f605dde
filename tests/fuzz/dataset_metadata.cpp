// basin-dataset.json: the strict schema reader, then applying what it read to
// a small dataset (the CIFAR-10 loader does both for converted folders).
#include "core/tensor.h"
#include "data/dataset_metadata.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = basin::fuzz::write_input("basin-dataset.json", data, size);
  basin::fuzz::expect_clean([&] {
    const basin::data::DatasetMetadata m = basin::data::read_dataset_metadata(path);
    basin::data::Dataset ds;
    ds.images = basin::zeros({4, 3, 32, 32}, basin::DType::U8);
    ds.labels = basin::from_vector<int64_t>({0, 1, 1, 0}, {4});
    ds.num_classes = 2;
    basin::data::apply_dataset_metadata(ds, m, path, "train");
  });
  return 0;
}
