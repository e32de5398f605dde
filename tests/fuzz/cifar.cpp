// CIFAR binary records: the first byte picks CIFAR-10 (one label byte, the
// one-file loader `basin convert` output uses) or CIFAR-100 (coarse + fine
// label, the directory loader); the rest is the file.
#include "data/cifar.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool hundred = data[0] & 1;
  basin::fuzz::expect_clean([&] {
    if (hundred) {
      basin::fuzz::write_input("c100/test.bin", data + 1, size - 1);
      basin::data::load_cifar100((basin::fuzz::scratch_dir() / "c100").string(), "test", /*strict=*/false);
    } else {
      const std::string path = basin::fuzz::write_input("c10/batch.bin", data + 1, size - 1);
      basin::data::load_cifar10_file(path);
    }
  });
  return 0;
}
