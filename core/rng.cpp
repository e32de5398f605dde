#include "core/rng.h"

#include <cmath>

#include "core/backend.h"
#include "core/philox.h"

namespace basin {

uint64_t Generator::next_u64() {
  const Philox4 r = philox4x32(seed_, advance(1));
  return (static_cast<uint64_t>(r.v[1]) << 32) | r.v[0];
}

double Generator::uniform() { return philox_uniform_at(seed_, advance(1)); }

int64_t Generator::randint(int64_t n) {
  // Multiply-shift on 64 random bits: bias below 2^-40 for any n used here.
  const unsigned __int128 wide = static_cast<unsigned __int128>(next_u64()) * static_cast<uint64_t>(n);
  return static_cast<int64_t>(wide >> 64);
}

double Generator::normal() {
  const Philox4 r = philox4x32(seed_, advance(1));
  const double u1 = philox_uniform_f64(r.v[0], r.v[1]);
  const double u2 = philox_uniform_f64(r.v[2], r.v[3]);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor out = empty(shape, dtype, device);
  backend_for(device).fill_uniform(out, gen.seed(), gen.advance(out.numel()), 0.0, 1.0);
  return out;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor out = empty(shape, dtype, device);
  backend_for(device).fill_normal(out, gen.seed(), gen.advance(out.numel()), 0.0, 1.0);
  return out;
}

Tensor rand(const Shape& shape, DType dtype, Device device) {
  return rand(shape, default_generator(), dtype, device);
}
Tensor randn(const Shape& shape, DType dtype, Device device) {
  return randn(shape, default_generator(), dtype, device);
}

}  // namespace basin
