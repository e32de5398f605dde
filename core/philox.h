// Philox4x32-10, the counter-based generator behind every random number in
// basin. A draw is a pure function of (seed, counter), so the CPU and the CUDA
// backend produce the same integer streams, and a stream can be replayed from
// a checkpointed (seed, offset) pair. Included by .cu files, hence BASIN_HD.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define BASIN_HD __host__ __device__ __forceinline__
#else
#define BASIN_HD inline
#endif

namespace basin {

struct Philox4 {
  uint32_t v[4];
};

BASIN_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Four 32-bit words from key = seed and the 64-bit counter.
BASIN_HD Philox4 philox4x32(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c2, &hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (exactly representable in f32).
BASIN_HD float philox_uniform_f32(uint32_t bits) { return (bits >> 8) * (1.0f / 16777216.0f); }

// Uniform in [0, 1) with 53 random bits.
BASIN_HD double philox_uniform_f64(uint32_t lo, uint32_t hi) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return (bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Element i of every random fill uses counter = offset + i; these are the
// per-element draws, shared by both backends so their streams agree.
BASIN_HD double philox_uniform_at(uint64_t seed, uint64_t counter) {
  const Philox4 r = philox4x32(seed, counter);
  return philox_uniform_f64(r.v[0], r.v[1]);
}

}  // namespace basin
