// CPU Cutout: one side x side square per sample set to 0 (in normalised
// space, i.e. the dataset mean), its corner drawn as Backend::cutout says.
#include <algorithm>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"
#include "core/rand_augment_ops.h"

namespace basin::cpu {

void CpuBackend::cutout(Tensor& x, int64_t side, uint64_t seed, uint64_t offset) {
  rand_augment::check_cutout_args("cpu backend cutout", x, side);
  check_contiguous("cutout", x);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  float* data = x.data<float>();
  for (int64_t i = 0; i < N; ++i) {
    const rand_augment::Corner at = rand_augment::cutout_corner(seed, offset + uint64_t(i), H, W, side);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = at.y0; y < at.y0 + side; ++y) {
        float* row = data + ((i * C + c) * H + y) * W + at.x0;
        std::fill(row, row + side, 0.0f);
      }
  }
}

}  // namespace basin::cpu
