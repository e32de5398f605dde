// RandAugment and Cutout on CUDA: the per-pixel operations of
// core/rand_augment_ops.h (shared with the CPU kernel, integer arithmetic), so
// the augmented bytes equal the CPU's for the same (seed, offset).
#include "core/rand_augment_ops.h"
#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

using namespace basin::rand_augment;

struct ImageGeom {
  int64_t N, H, W;
  int C;
};

// One block per sample: the block walks the sample's operations in order,
// each one a statistics pass (histograms, gray sum) when the op needs it, a
// per-channel table, and a pixel pass. Consecutive operations ping-pong
// between `scratch` and `out`, so the last writes `out`.
__global__ void rand_augment_kernel(const uint8_t* src, ImageGeom g, RandAugmentSpec spec, Constants k,
                                    uint64_t seed, uint64_t offset, uint8_t* scratch, uint8_t* out) {
  __shared__ int hist[3 * kLevels];
  __shared__ uint8_t lut[3 * kLevels];
  __shared__ unsigned long long gray_sum;
  const int64_t i = blockIdx.x;
  const int64_t plane = g.H * g.W, image = g.C * plane;
  const Plan plan = draw_plan(seed, offset, uint64_t(g.N), uint64_t(i), spec.num_ops, spec.op_prob);
  const uint8_t* cur = src + i * image;
  uint8_t* const result = out + i * image;
  if (plan.count == 0) {
    for (int64_t e = threadIdx.x; e < image; e += blockDim.x) result[e] = cur[e];
    return;
  }
  for (int j = 0; j < plan.count; ++j) {
    const Step step = plan.steps[j];
    uint8_t* dst = (plan.count - 1 - j) % 2 == 0 ? result : scratch + i * image;
    if (is_lookup(step.op)) {
      for (int e = threadIdx.x; e < g.C * kLevels; e += blockDim.x) hist[e] = 0;
      if (threadIdx.x == 0) gray_sum = 0;
      __syncthreads();
      if (needs_histogram(step.op))
        for (int64_t e = threadIdx.x; e < image; e += blockDim.x) atomicAdd(&hist[(e / plane) * kLevels + cur[e]], 1);
      if (needs_gray_sum(step.op)) {
        unsigned long long partial = 0;
        for (int64_t p = threadIdx.x; p < plane; p += blockDim.x) partial += gray(cur + p, plane, g.C);
        atomicAdd(&gray_sum, partial);
      }
      __syncthreads();
      if (threadIdx.x < g.C) {
        const int mean = mean_gray(static_cast<int64_t>(gray_sum), plane);
        build_lut(step.op, step.sign, k, hist + threadIdx.x * kLevels, plane, mean, lut + threadIdx.x * kLevels);
      }
      __syncthreads();
      for (int64_t e = threadIdx.x; e < image; e += blockDim.x) dst[e] = lut[(e / plane) * kLevels + cur[e]];
    } else {
      for (int64_t e = threadIdx.x; e < image; e += blockDim.x) {
        const int c = static_cast<int>(e / plane);
        const int64_t y = (e % plane) / g.W, x = e % g.W;
        dst[e] = pixel(step.op, step.sign, k, cur, g.C, g.H, g.W, c, y, x);
      }
    }
    // The next operation reads what every thread of the block wrote.
    __syncthreads();
    cur = dst;
  }
}

// One thread per element of the cut squares.
__global__ void cutout_kernel(float* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t side, uint64_t seed,
                              uint64_t offset) {
  const int64_t square = side * side;
  BASIN_GRID_STRIDE(e, N * C * square) {
    const int64_t i = e / (C * square), c = (e / square) % C, dy = (e % square) / side, dx = e % side;
    const Corner at = cutout_corner(seed, offset + uint64_t(i), H, W, side);
    x[((i * C + c) * H + at.y0 + dy) * W + at.x0 + dx] = 0.0f;
  }
}

}  // namespace

void CudaBackend::rand_augment(const Tensor& src, const RandAugmentSpec& spec, uint64_t seed, uint64_t offset,
                               Tensor& out) {
  check_rand_augment_args("cuda rand_augment", src, spec, out);
  BASIN_CHECK(src.is_contiguous() && out.is_contiguous(), "cuda rand_augment: src ", src.str(), " and out ",
              out.str(), " must be contiguous");
  const ImageGeom g{src.size(0), src.size(2), src.size(3), static_cast<int>(src.size(1))};
  if (src.numel() == 0) return;
  BASIN_CHECK(g.N <= 2147483647, "cuda rand_augment: ", g.N, " samples exceed one grid");
  const Constants k = make_constants(spec, g.H, g.W);
  // Room for the intermediate image when a sample gets two or more
  // operations (the cache hands it out again only to later work on the stream).
  DeviceBuffer scratch(static_cast<size_t>(src.numel()));
  rand_augment_kernel<<<static_cast<unsigned>(g.N), kThreads, 0, stream()>>>(
      data_ptr<uint8_t>(src), g, spec, k, seed, offset, scratch.as<uint8_t>(), data_ptr<uint8_t>(out));
  check_launch("rand_augment_kernel");
}

void CudaBackend::cutout(Tensor& x, int64_t side, uint64_t seed, uint64_t offset) {
  check_cutout_args("cuda cutout", x, side);
  BASIN_CHECK(x.is_contiguous(), "cuda cutout: ", x.str(), " must be contiguous");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t n = N * C * side * side;
  if (n == 0) return;
  cutout_kernel<<<grid_for(n), kThreads, 0, stream()>>>(data_ptr<float>(x), N, C, H, W, side, seed, offset);
  check_launch("cutout_kernel");
}

}  // namespace basin::cuda
