// FMA peak: each thread runs chains of independent multiply-adds, enough chains
// to cover the FMA latency on every FMA port, with nothing else in the loop.
#include "core/cpu/fma_peak.h"

#include <omp.h>

#include <chrono>

#include "core/cpu/isa.h"
#if !defined(BASIN_CPU_GENERIC)
#include <immintrin.h>
#endif

namespace basin::cpu {
namespace {

constexpr int kChains = 16;  // 2 ports x 4-cycle latency, with margin

#if defined(BASIN_CPU_AVX512)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm512_cvtss_f32(v); }
#elif defined(BASIN_CPU_AVX2)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm256_cvtss_f32(v); }
#else
// Portable: the compiler's own vectors of 4 floats (SSE, NEON, or scalar code).
typedef float Vec __attribute__((vector_size(16)));
constexpr int kLanes = 4;
inline Vec splat(float v) { return Vec{v, v, v, v}; }
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float first(Vec v) { return v[0]; }
#endif

// Runs `iterations` rounds of kChains FMAs; returns a value so nothing is elided.
float fma_chains(long iterations, float seed) {
  Vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = splat(seed + static_cast<float>(i));
  const Vec a = splat(0.999999f), b = splat(1e-7f);
  for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = fma(acc[i], a, b);
  }
  float sum = 0;
  for (int i = 0; i < kChains; ++i) sum += first(acc[i]);
  return sum;
}

}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto elapsed = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  // Short timed runs (~2 ms, inside one scheduler slice), repeated for about
  // `seconds`; the fastest counts: a busy neighbour can only slow a run down.
  long iterations = 1024;
  for (;;) {
    const auto t0 = Clock::now();
    volatile float sink = fma_chains(iterations, 1.0f);
    (void)sink;
    if (elapsed(t0) > 2e-3 || iterations > (1L << 30)) break;
    iterations *= 2;
  }
  double best = 0;
  const auto start = Clock::now();
  do {
    const auto t0 = Clock::now();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += fma_chains(iterations, 1.0f + static_cast<float>(omp_get_thread_num()));
    const double s = elapsed(t0);
    volatile float sink = total;
    (void)sink;
    const double flops = 2.0 * kChains * kLanes * static_cast<double>(iterations) * threads;
    if (flops / s / 1e9 > best) best = flops / s / 1e9;
  } while (elapsed(start) < seconds);
  return best;
}

}  // namespace basin::cpu
