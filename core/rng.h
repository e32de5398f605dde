// Generator: a (seed, offset) pair over the Philox stream. A random fill of n
// elements uses counters offset .. offset+n-1 and advances offset by n, so the
// whole random state of a run is two integers that a checkpoint can store.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace basin {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserve n counters; returns the first.
  uint64_t advance(uint64_t n) { const uint64_t first = offset_; offset_ += n; return first; }
  // One host draw (shuffles, noise injection): uniform in [0, 1).
  double uniform();
  uint64_t next_u64();
  int64_t randint(int64_t n);  // uniform in [0, n)
  double normal();

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::F32,
            Device device = Device::cpu());
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32,
             Device device = Device::cpu());
Tensor rand(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());

}  // namespace basin
