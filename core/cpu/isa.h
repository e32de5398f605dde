// The one place that decides which instruction set the CPU kernels use. The
// choice is made at compile time from the compiler's target (-march), so a
// binary built for x86-64-v3 runs the AVX2 kernels, one built for an AVX-512
// machine the AVX-512 ones, and any other target (ARM, plain x86-64) the
// portable C++ kernels. Kernel files include this header and test only the
// BASIN_CPU_* macro it defines; nothing else looks at __AVX512F__ and friends.
#pragma once

#if defined(__AVX512F__) && !defined(BASIN_CPU_FORCE_GENERIC)
#define BASIN_CPU_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__) && !defined(BASIN_CPU_FORCE_GENERIC)
#define BASIN_CPU_AVX2 1
#else
#define BASIN_CPU_GENERIC 1
#endif

namespace basin::cpu {

// "avx512", "avx2" or "generic": the kernels this binary runs (printed by
// `basin bench --gemm` and in the bench JSON).
inline const char* isa_name() {
#if defined(BASIN_CPU_AVX512)
  return "avx512";
#elif defined(BASIN_CPU_AVX2)
  return "avx2";
#else
  return "generic";
#endif
}

}  // namespace basin::cpu
