// CUDA-vs-CPU parity of the strong augmentation: RandAugment's bytes and the
// whole strong_augment output (RandAugment, weak crop/flip/normalise, Cutout)
// must be identical, since both backends share core/rand_augment_ops.h's
// integer definitions and the Philox stream.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "core/backend.h"
#include "core/rng.h"
#include "cuda_skip.h"
#include "data/strong_augment.h"

namespace {

using basin::Device;
using basin::DType;
using basin::Tensor;

Tensor random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t = basin::empty({n, c, h, w}, DType::U8);
  for (int64_t k = 0; k < t.numel(); ++k) t.data<uint8_t>()[k] = static_cast<uint8_t>(1 + rng() % (40 + k % 200));
  return t;
}

}  // namespace

TEST_CASE("cuda: RandAugment and strong_augment equal the CPU's bit for bit, 1 and 3 channels") {
  BASIN_SKIP_WITHOUT_CUDA();
  struct Shape4 {
    int64_t c, h, w;
  };
  for (const Shape4 s : {Shape4{1, 28, 28}, Shape4{3, 32, 32}, Shape4{3, 9, 11}}) {
    for (const int m : {5, 10, 30}) {
      for (const int ops : {1, 2, 3}) {
        INFO("channels ", s.c, ", ", s.h, "x", s.w, ", magnitude ", m, ", ops ", ops);
        const Tensor x = random_images(96, s.c, s.h, s.w, uint32_t(m * 7 + ops + s.c));
        basin::RandAugmentSpec spec;
        spec.num_ops = ops;
        spec.magnitude = m;
        spec.op_prob = ops == 1 ? 1.0f : 0.5f;
        Tensor ref = basin::empty(x.shape(), DType::U8);
        basin::backend_for(Device::cpu()).rand_augment(x, spec, 123 + m, 45, ref);
        const Tensor xg = x.to(Device::cuda(0));
        Tensor got = basin::empty(x.shape(), DType::U8, Device::cuda(0));
        basin::backend_for(Device::cuda(0)).rand_augment(xg, spec, 123 + m, 45, got);
        CHECK(got.to(Device::cpu()).to_vector<uint8_t>() == ref.to_vector<uint8_t>());

        basin::AugmentSpec weak;
        weak.pad = 4;
        weak.flip_prob = 0.5f;
        for (int64_t k = 0; k < s.c; ++k) weak.mean[k] = 0.45f, weak.std[k] = 0.25f;
        basin::data::StrongAugmentSpec strong;
        strong.num_ops = ops;
        strong.magnitude = m;
        basin::Generator g_cpu(9 + m), g_gpu(9 + m);
        const Tensor a = basin::data::strong_augment(x, weak, strong, g_cpu);
        const Tensor b = basin::data::strong_augment(xg, weak, strong, g_gpu);
        CHECK(b.device() == Device::cuda(0));
        CHECK(b.to(Device::cpu()).to_vector<float>() == a.to_vector<float>());
        CHECK(g_cpu.offset() == g_gpu.offset());
      }
    }
  }
}
