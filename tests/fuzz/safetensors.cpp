// safetensors files: header length, JSON header (dtypes, shapes, offsets) and
// data, through the loader checkpoints and `basin export` files go through.
#include "core/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = basin::fuzz::write_input("in.safetensors", data, size);
  basin::fuzz::expect_clean([&] { basin::safetensors::load(path); });
  return 0;
}
