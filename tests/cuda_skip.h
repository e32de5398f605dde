// Shared by the tests/cuda_*.cpp suites: whether a CUDA device can be used, and
// the visible "skipped" message every CUDA test prints when it cannot (the
// suite must pass, and say so, on machines without a GPU or without nvcc).
#pragma once
#include <doctest/doctest.h>

#include <string>

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

namespace basin::testing {

inline bool cuda_device_present() {
#if defined(BASIN_HAS_CUDA)
  return basin::cuda::device_count() > 0;
#else
  return false;
#endif
}

inline std::string cuda_absence_reason() {
#if defined(BASIN_HAS_CUDA)
  return basin::cuda::no_device_reason();
#else
  return "this build has no CUDA backend (BASIN_CUDA=OFF or no nvcc)";
#endif
}

}  // namespace basin::testing

// Early-returns from the current TEST_CASE with a visible message when there is no device.
#define BASIN_SKIP_WITHOUT_CUDA()                                                            \
  do {                                                                                       \
    if (!::basin::testing::cuda_device_present()) {                                          \
      MESSAGE("skipped: no CUDA device (" << ::basin::testing::cuda_absence_reason() << ")"); \
      return;                                                                                \
    }                                                                                        \
  } while (0)
