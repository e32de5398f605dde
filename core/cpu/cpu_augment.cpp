// CPU batch augmentation: uint8 NCHW images -> normalised f32 with a random
// crop out of a (reflect- or zero-) padded image and a random horizontal flip,
// each sample's choices drawn from philox4x32(seed, offset + i) (see AugmentSpec).
#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"
#include "core/philox.h"

namespace basin::cpu {

namespace {

// numpy 'reflect': -1 -> 1, n -> n-2 (the edge is not repeated); folds
// repeatedly when the padding is wider than the image.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace

void CpuBackend::augment(const Tensor& src, const AugmentSpec& spec, uint64_t seed,
                         uint64_t offset, Tensor& out) {
  const char* op = "augment";
  check_contiguous(op, src, out);
  check_dtype(src, DType::U8, op, "src");
  check_dtype(out, DType::F32, op, "out");
  BASIN_CHECK(src.dim() == 4, "cpu backend augment: expected src [N, C, H, W], got ", src.str());
  BASIN_CHECK(out.shape() == src.shape(), "cpu backend augment: out ", out.str(),
              " must have src's shape ", shape_str(src.shape()));
  const int64_t N = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
  BASIN_CHECK(C <= 4, "cpu backend augment: at most 4 channels are supported, src is ", src.str());
  BASIN_CHECK(spec.pad >= 0, "cpu backend augment: negative pad ", spec.pad);
  for (int64_t c = 0; c < C; ++c)
    BASIN_CHECK(spec.std[c] != 0.0f, "cpu backend augment: std[", c, "] is zero");
  // Every possible output value, per channel: (v/255 - mean) / std in float,
  // the same expression the CUDA kernel evaluates.
  float table[4][256];
  for (int64_t c = 0; c < C; ++c)
    for (int v = 0; v < 256; ++v)
      table[c][v] = (static_cast<float>(v) / 255.0f - spec.mean[c]) / spec.std[c];
  const uint8_t* sp = src.data<uint8_t>();
  float* op_data = out.data<float>();
  const int64_t pad = spec.pad, span = 2 * int64_t(spec.pad) + 1;
#pragma omp parallel for schedule(static) if (src.numel() >= kParallelGrain)
  for (int64_t i = 0; i < N; ++i) {
    const Philox4 r = philox4x32(seed, offset + uint64_t(i));
    const int64_t dy = int64_t(r.v[0] % uint64_t(span)), dx = int64_t(r.v[1] % uint64_t(span));
    const bool flip = spec.flip_prob > 0.0f && philox_uniform_f32(r.v[2]) < spec.flip_prob;
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* plane = sp + (i * C + c) * H * W;
      float* dst = op_data + (i * C + c) * H * W;
      const float* lut = table[c];
      for (int64_t y = 0; y < H; ++y) {
        int64_t sy = y + dy - pad;
        const bool row_inside = sy >= 0 && sy < H;
        if (!row_inside && spec.reflect_pad) sy = reflect_index(sy, H);
        for (int64_t x = 0; x < W; ++x) {
          const int64_t xf = flip ? W - 1 - x : x;
          int64_t sx = xf + dx - pad;
          const bool inside = row_inside && sx >= 0 && sx < W;
          uint8_t v = 0;  // zero padding: a black pixel before normalising
          if (inside) {
            v = plane[sy * W + sx];
          } else if (spec.reflect_pad) {
            if (sx < 0 || sx >= W) sx = reflect_index(sx, W);
            v = plane[sy * W + sx];
          }
          dst[y * W + x] = lut[v];
        }
      }
    }
  }
}

}  // namespace basin::cpu
