// Tests of the CPU augmentation kernel: plain normalisation, flips, and crops
// of reflect- or zero-padded images, checked by searching every crop offset
// and against the per-sample philox draws that AugmentSpec specifies.
#include <cstring>

#include "core/philox.h"
#include "tests/cpu_backend_testing.h"

using namespace basin;
using namespace basin::cpu_testing;

namespace {

constexpr int64_t N = 16, C = 3, H = 5, W = 6;

Tensor random_images(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> pixels(N * C * H * W);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(1 + rng() % 255);  // never 0
  return from_vector<uint8_t>(pixels, {N, C, H, W});
}

AugmentSpec base_spec() {
  AugmentSpec spec;
  const float mean[3] = {0.49f, 0.48f, 0.45f}, std[3] = {0.25f, 0.24f, 0.26f};
  for (int c = 0; c < 3; ++c) {
    spec.mean[c] = mean[c];
    spec.std[c] = std[c];
  }
  return spec;
}

float normalised(const AugmentSpec& spec, int64_t c, double pixel) {
  return (static_cast<float>(pixel) / 255.0f - spec.mean[c]) / spec.std[c];
}

// Pixel (c, py, px) of sample i padded by `pad` (py, px may be outside the image).
double padded_pixel(const uint8_t* img, int64_t i, int64_t c, int64_t py, int64_t px,
                    bool reflect) {
  if (py < 0 || py >= H || px < 0 || px >= W) {
    if (!reflect) return 0.0;
    if (py < 0) py = -py;
    if (py >= H) py = 2 * (H - 1) - py;
    if (px < 0) px = -px;
    if (px >= W) px = 2 * (W - 1) - px;
  }
  return img[((i * C + c) * H + py) * W + px];
}

// Does sample i of `out` equal the crop at (dy, dx) of the padded image, flipped or not?
bool matches_crop(const AugmentSpec& spec, const uint8_t* img, const float* out, int64_t i,
                  int64_t dy, int64_t dx, bool flip) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t xs = flip ? W - 1 - x : x;
        const double v = padded_pixel(img, i, c, y + dy - spec.pad, xs + dx - spec.pad,
                                      spec.reflect_pad);
        if (out[((i * C + c) * H + y) * W + x] != normalised(spec, c, v)) return false;
      }
  return true;
}

}  // namespace

TEST_CASE("core: cpu augment without crop or flip is exact normalisation") {
  Tensor src = random_images(60);
  const AugmentSpec spec = base_spec();
  Tensor out = empty({N, C, H, W});
  be().augment(src, spec, 1, 0, out);
  const uint8_t* img = src.data<uint8_t>();
  const float* o = out.data<float>();
  for (int64_t k = 0; k < N * C * H * W; ++k) {
    const int64_t c = (k / (H * W)) % C;
    REQUIRE(o[k] == normalised(spec, c, img[k]));
  }
  // flip_prob = 1: every sample mirrored
  AugmentSpec flip = spec;
  flip.flip_prob = 1.0f;
  be().augment(src, flip, 1, 0, out);
  for (int64_t i = 0; i < N; ++i) CHECK(matches_crop(flip, img, o, i, 0, 0, true));
  Tensor wrong = empty({N, C, H, W}, DType::F64);
  CHECK_THROWS_AS(be().augment(src, spec, 1, 0, wrong), basin::Error);
}

TEST_CASE("core: cpu augment crops reflect- and zero-padded images at the drawn offsets") {
  Tensor src = random_images(61);
  const uint8_t* img = src.data<uint8_t>();
  for (bool reflect : {true, false}) {
    CAPTURE(reflect);
    AugmentSpec spec = base_spec();
    spec.pad = 2;
    spec.reflect_pad = reflect;
    spec.flip_prob = 0.5f;
    const uint64_t seed = 9, offset = 100;
    Tensor out = empty({N, C, H, W});
    be().augment(src, spec, seed, offset, out);
    const float* o = out.data<float>();
    int flips = 0, off_centre = 0;
    for (int64_t i = 0; i < N; ++i) {
      CAPTURE(i);
      bool found = false;
      for (int64_t dy = 0; dy <= 4 && !found; ++dy)
        for (int64_t dx = 0; dx <= 4 && !found; ++dx)
          for (bool flip : {false, true}) found = found || matches_crop(spec, img, o, i, dy, dx, flip);
      CHECK(found);
      const Philox4 r = philox4x32(seed, offset + i);
      const int64_t dy = r.v[0] % 5, dx = r.v[1] % 5;
      const bool flip = philox_uniform_f32(r.v[2]) < 0.5f;
      CHECK(matches_crop(spec, img, o, i, dy, dx, flip));
      flips += flip;
      off_centre += (dy != 2 || dx != 2);
      // the other padding mode gives a different picture whenever padding shows
      AugmentSpec other = spec;
      other.reflect_pad = !reflect;
      if (dy != 2 || dx != 2) CHECK_FALSE(matches_crop(other, img, o, i, dy, dx, flip));
    }
    CHECK(flips > 0);
    CHECK(flips < N);
    CHECK(off_centre > 0);
  }
  // zero padding is the pixel value 0 before normalising: a sample cropped at
  // (0, 0) has its top-left corner at (0/255 - mean) / std
  AugmentSpec spec = base_spec();
  spec.pad = 2;
  Tensor out = empty({N, C, H, W});
  be().augment(src, spec, 9, 100, out);
  for (int64_t i = 0; i < N; ++i) {
    const Philox4 r = philox4x32(9, 100 + i);
    if (r.v[0] % 5 == 0 && r.v[1] % 5 == 0)
      CHECK(out.data<float>()[i * C * H * W] == normalised(spec, 0, 0.0));
  }
}
