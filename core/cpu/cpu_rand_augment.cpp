// CPU RandAugment: per sample, the drawn operations (core/rand_augment_ops.h)
// applied in turn, ping-ponging between a scratch image and the output so the
// last one lands in `out`.
#include <cstring>
#include <vector>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"
#include "core/rand_augment_ops.h"

namespace basin::cpu {

namespace {

using namespace basin::rand_augment;

// One operation on one sample image [C, H, W], src -> dst.
void apply_step(const Step& step, const Constants& k, const uint8_t* src, uint8_t* dst, int channels,
                int64_t height, int64_t width) {
  const int64_t plane = height * width;
  if (!is_lookup(step.op)) {
    for (int c = 0; c < channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x)
          dst[c * plane + y * width + x] = pixel(step.op, step.sign, k, src, channels, height, width, c, y, x);
    return;
  }
  int64_t gray_sum = 0;
  if (needs_gray_sum(step.op))
    for (int64_t p = 0; p < plane; ++p) gray_sum += gray(src + p, plane, channels);
  const int mean = mean_gray(gray_sum, plane);
  for (int c = 0; c < channels; ++c) {
    const uint8_t* in = src + c * plane;
    int hist[kLevels] = {};
    if (needs_histogram(step.op))
      for (int64_t p = 0; p < plane; ++p) ++hist[in[p]];
    uint8_t lut[kLevels];
    build_lut(step.op, step.sign, k, hist, plane, mean, lut);
    uint8_t* o = dst + c * plane;
    for (int64_t p = 0; p < plane; ++p) o[p] = lut[in[p]];
  }
}

}  // namespace

void CpuBackend::rand_augment(const Tensor& src, const RandAugmentSpec& spec, uint64_t seed, uint64_t offset,
                              Tensor& out) {
  check_rand_augment_args("cpu backend rand_augment", src, spec, out);
  check_contiguous("rand_augment", src, out);
  const int64_t N = src.size(0), H = src.size(2), W = src.size(3);
  const int C = static_cast<int>(src.size(1));
  const int64_t image = C * H * W;
  if (N == 0 || image == 0) return;
  const Constants k = make_constants(spec, H, W);
  const uint8_t* sp = src.data<uint8_t>();
  uint8_t* op = out.data<uint8_t>();
#pragma omp parallel
  {
    std::vector<uint8_t> scratch(image);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      const Plan plan = draw_plan(seed, offset, uint64_t(N), uint64_t(i), spec.num_ops, spec.op_prob);
      const uint8_t* cur = sp + i * image;
      uint8_t* const result = op + i * image;
      if (plan.count == 0) std::memcpy(result, cur, size_t(image));
      for (int j = 0; j < plan.count; ++j) {
        // Alternate so that the last operation writes `result`.
        uint8_t* dst = (plan.count - 1 - j) % 2 == 0 ? result : scratch.data();
        apply_step(plan.steps[j], k, cur, dst, C, H, W);
        cur = dst;
      }
    }
  }
}

}  // namespace basin::cpu
