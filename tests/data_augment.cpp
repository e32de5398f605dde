// Augmentation front-end: normalisation and the crop/flip draws against a
// hand loop that follows AugmentSpec's contract (core/backend.h), the
// Generator bookkeeping, and the standard specs per dataset.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "core/error.h"

#include "core/philox.h"
#include "data/augment.h"

using namespace basin;
using namespace basin::data;

namespace {

Tensor random_u8(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t = empty(shape, DType::U8);
  for (int64_t k = 0; k < t.numel(); ++k) t.data<uint8_t>()[k] = static_cast<uint8_t>(1 + rng() % 255);
  return t;
}

AugmentSpec spec_with(int pad, bool reflect, float flip) {
  AugmentSpec s;
  s.pad = pad;
  s.reflect_pad = reflect;
  s.flip_prob = flip;
  const float mean[3] = {0.3f, 0.5f, 0.45f}, std[3] = {0.2f, 0.25f, 0.3f};
  for (int c = 0; c < 3; ++c) {
    s.mean[c] = mean[c];
    s.std[c] = std[c];
  }
  return s;
}

// The contract, written out: sample i draws philox4x32(seed, offset + i).
std::vector<double> hand_augment(const Tensor& x, const AugmentSpec& s, uint64_t seed, uint64_t offset,
                                 std::vector<int>* flips = nullptr) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const uint8_t* px = x.data<uint8_t>();
  std::vector<double> out(n * c * h * w);
  for (int64_t i = 0; i < n; ++i) {
    const Philox4 v = philox4x32(seed, offset + i);
    const int64_t dy = s.pad > 0 ? v.v[0] % (2 * s.pad + 1) : 0;
    const int64_t dx = s.pad > 0 ? v.v[1] % (2 * s.pad + 1) : 0;
    const bool flip = s.flip_prob > 0 && philox_uniform_f32(v.v[2]) < s.flip_prob;
    if (flips) flips->push_back(flip);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xo = 0; xo < w; ++xo) {
          const int64_t xs = flip ? w - 1 - xo : xo;
          int64_t sy = y + dy - s.pad, sx = xs + dx - s.pad;
          double value = 0.0;  // zero padding in uint8 space
          bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          if (!inside && s.reflect_pad) {
            sy = sy < 0 ? -sy : (sy >= h ? 2 * (h - 1) - sy : sy);
            sx = sx < 0 ? -sx : (sx >= w ? 2 * (w - 1) - sx : sx);
            inside = true;
          }
          if (inside) value = px[((i * c + ch) * h + sy) * w + sx];
          out[((i * c + ch) * h + y) * w + xo] = (value / 255.0 - s.mean[ch]) / s.std[ch];
        }
  }
  return out;
}

double max_diff(const Tensor& got, const std::vector<double>& want) {
  const std::vector<float> g = got.to_vector<float>();
  REQUIRE(g.size() == want.size());
  double worst = 0;
  for (size_t k = 0; k < g.size(); ++k) worst = std::max(worst, std::abs(double(g[k]) - want[k]));
  return worst;
}

}  // namespace

TEST_CASE("data: normalize matches a hand loop") {
  const Tensor x = random_u8({3, 3, 5, 6}, 1);
  const AugmentSpec spec = spec_with(4, false, 0.5f);  // pad and flip ignored
  const Tensor y = normalize(x, spec);
  CHECK(y.dtype() == DType::F32);
  CHECK(y.shape() == x.shape());
  CHECK(max_diff(y, hand_augment(x, spec_with(0, false, 0.0f), 0, 0)) < 1e-5);
}

TEST_CASE("data: augment crops and flips as AugmentSpec specifies, with fresh draws per batch") {
  const Tensor x = random_u8({16, 3, 8, 7}, 2);
  for (bool reflect : {false, true}) {
    const AugmentSpec spec = spec_with(2, reflect, 0.5f);
    Generator gen(1234);
    gen.advance(5);
    const Tensor first = augment(x, spec, gen);
    CHECK(gen.offset() == 5 + 16);
    std::vector<int> flips;
    CHECK(max_diff(first, hand_augment(x, spec, 1234, 5, &flips)) < 1e-5);
    // The draws exercise both branches of the flip.
    CHECK(std::count(flips.begin(), flips.end(), 1) > 0);
    CHECK(std::count(flips.begin(), flips.end(), 0) > 0);
    const Tensor second = augment(x, spec, gen);
    CHECK(gen.offset() == 5 + 32);
    CHECK(max_diff(second, hand_augment(x, spec, 1234, 21)) < 1e-5);
    CHECK(max_diff(second, hand_augment(x, spec, 1234, 5)) > 1e-3);
  }
  CHECK_THROWS_AS(normalize(empty({2, 3, 4}, DType::U8), AugmentSpec{}), basin::Error);
  CHECK_THROWS_AS(normalize(empty({2, 3, 4, 4}, DType::F32), AugmentSpec{}), basin::Error);
  Generator gen(3);
  CHECK_THROWS_AS(augment(empty({2, 3, 4}, DType::U8), AugmentSpec{}, gen), basin::Error);
  CHECK(gen.offset() == 0);  // a rejected call consumes no randomness
}

TEST_CASE("data: standard augment specs per dataset") {
  Dataset c10;
  c10.name = "cifar10";
  c10.images = empty({1, 3, 32, 32}, DType::U8);
  c10.mean = {0.4914, 0.4822, 0.4465};
  c10.std = {0.2470, 0.2435, 0.2616};
  const AugmentSpec train = train_augment_spec(c10);
  CHECK(train.pad == 4);
  CHECK(train.flip_prob == 0.5f);
  CHECK(train.std[1] == doctest::Approx(0.2435));
  const AugmentSpec eval = eval_augment_spec(c10);
  CHECK(eval.pad == 0);
  CHECK(eval.flip_prob == 0.0f);
  CHECK(eval.mean[2] == doctest::Approx(0.4465));

  Dataset fm;
  fm.name = "fashion-mnist";
  fm.images = empty({1, 1, 28, 28}, DType::U8);
  fm.mean = {0.2860};
  fm.std = {0.3530};
  const AugmentSpec f = train_augment_spec(fm);
  CHECK(f.pad == 2);
  CHECK(f.flip_prob == 0.0f);
  CHECK(f.std[0] == doctest::Approx(0.3530));
  fm.mean.clear();
  CHECK_THROWS_AS(eval_augment_spec(fm), basin::Error);
}
