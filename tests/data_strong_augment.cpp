// Strong augmentation (RandAugment + weak crop/flip + Cutout): every operation
// against a plain double-precision loop written from docs/algorithms.md's
// definitions (not from core/rand_augment_ops.h), on random non-zero images
// with 1 and 3 channels; the Philox draws of the contract; determinism; the
// weak augmentation as the special case with no ops and no Cutout; Cutout's
// square.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/philox.h"
#include "data/augment.h"
#include "data/strong_augment.h"

using namespace basin;
using namespace basin::data;

namespace {

// ---- the reference: one image as doubles [C][H][W], one function per op ----

struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<double> v;  // integer values 0..255, held as doubles
  double& at(int ch, int y, int x) { return v[(size_t(ch) * h + y) * w + x]; }
  double at(int ch, int y, int x) const { return v[(size_t(ch) * h + y) * w + x]; }
};

double round_half_up(double x) { return std::floor(x + 0.5); }
double clamp255(double x) { return std::min(255.0, std::max(0.0, x)); }

// d + f (v - d) with f = (100 + 3 s m) / 100, as one exact quotient.
double ref_blend(double v, double d, int sign, int m) {
  return clamp255(round_half_up((100.0 * d + (100.0 + 3.0 * sign * m) * (v - d)) / 100.0));
}

double ref_gray(const Image& im, int y, int x) {
  if (im.c == 1) return im.at(0, y, x);
  return round_half_up((299.0 * im.at(0, y, x) + 587.0 * im.at(1, y, x) + 114.0 * im.at(2, y, x)) / 1000.0);
}

// Geometric ops: the inverse map about the center, coefficients rounded to 2^-16.
Image ref_affine(const Image& im, double a, double b, double c, double d, double tx, double ty, int fill) {
  Image out = im;
  const double cx = (im.w - 1) / 2.0, cy = (im.h - 1) / 2.0;
  for (int ch = 0; ch < im.c; ++ch)
    for (int y = 0; y < im.h; ++y)
      for (int x = 0; x < im.w; ++x) {
        const double sx = round_half_up(cx + a * (x - cx) + b * (y - cy) + tx);
        const double sy = round_half_up(cy + c * (x - cx) + d * (y - cy) + ty);
        const bool inside = sx >= 0 && sx < im.w && sy >= 0 && sy < im.h;
        out.at(ch, y, x) = inside ? im.at(ch, int(sy), int(sx)) : fill;
      }
  return out;
}

double q16(double v) { return std::round(v * 65536.0) / 65536.0; }

// The 14 ops in the draw order of docs/algorithms.md.
const char* const kOpNames[14] = {"Identity",   "AutoContrast", "Equalize", "Rotate",  "Solarize",
                                  "Color",      "Posterize",    "Contrast", "Brightness", "Sharpness",
                                  "ShearX",     "ShearY",       "TranslateX", "TranslateY"};

Image ref_op(int op, int sign, int m, int fill, const Image& im) {
  Image out = im;
  const int64_t pixels = int64_t(im.h) * im.w;
  switch (op) {
    case 0:
      return out;
    case 1:  // AutoContrast: per channel, [min, max] stretched to [0, 255], rounded down
      for (int ch = 0; ch < im.c; ++ch) {
        double lo = 255, hi = 0;
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) lo = std::min(lo, im.at(ch, y, x)), hi = std::max(hi, im.at(ch, y, x));
        if (hi <= lo) continue;
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) out.at(ch, y, x) = std::floor((im.at(ch, y, x) - lo) * 255.0 / (hi - lo));
      }
      return out;
    case 2:  // Equalize: PIL's rule, counting pixels directly
      for (int ch = 0; ch < im.c; ++ch) {
        double top = 0;
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) top = std::max(top, im.at(ch, y, x));
        int64_t at_top = 0;
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) at_top += im.at(ch, y, x) == top;
        const int64_t step = (pixels - at_top) / 255;
        if (step == 0) continue;
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) {
            int64_t below = 0;  // pixels of this channel darker than this one
            for (int yy = 0; yy < im.h; ++yy)
              for (int xx = 0; xx < im.w; ++xx) below += im.at(ch, yy, xx) < im.at(ch, y, x);
            out.at(ch, y, x) = std::min(255.0, std::floor(double(below + step / 2) / double(step)));
          }
      }
      return out;
    case 3: {  // Rotate by s m degrees, counter-clockwise for s = +1
      const double rad = m * 3.14159265358979323846 / 180.0;
      const double cs = q16(std::cos(rad)), sn = sign * q16(std::sin(rad));
      return ref_affine(im, cs, -sn, sn, cs, 0, 0, fill);
    }
    case 4: {  // Solarize: invert values >= 256 - round(256 m / 30)
      const double threshold = 256 - round_half_up(256.0 * m / 30.0);
      for (double& p : out.v)
        if (p >= threshold) p = 255 - p;
      return out;
    }
    case 5:  // Color: towards the pixel's gray; identity on one channel
      if (im.c == 1) return out;
      for (int ch = 0; ch < im.c; ++ch)
        for (int y = 0; y < im.h; ++y)
          for (int x = 0; x < im.w; ++x) out.at(ch, y, x) = ref_blend(im.at(ch, y, x), ref_gray(im, y, x), sign, m);
      return out;
    case 6: {  // Posterize: keep 8 - round(4 m / 30) bits
      const double drop = std::pow(2.0, 8 - (8 - round_half_up(4.0 * m / 30.0)));
      for (double& p : out.v) p = std::floor(p / drop) * drop;
      return out;
    }
    case 7: {  // Contrast: towards the image's rounded mean gray
      double sum = 0;
      for (int y = 0; y < im.h; ++y)
        for (int x = 0; x < im.w; ++x) sum += ref_gray(im, y, x);
      const double mean = round_half_up(sum / double(pixels));
      for (double& p : out.v) p = ref_blend(p, mean, sign, m);
      return out;
    }
    case 8:  // Brightness: towards black
      for (double& p : out.v) p = ref_blend(p, 0.0, sign, m);
      return out;
    case 9:  // Sharpness: towards the 3x3 smoothed image, border kept
      for (int ch = 0; ch < im.c; ++ch)
        for (int y = 1; y + 1 < im.h; ++y)
          for (int x = 1; x + 1 < im.w; ++x) {
            double sum = 4 * im.at(ch, y, x);
            for (int dy = -1; dy <= 1; ++dy)
              for (int dx = -1; dx <= 1; ++dx) sum += im.at(ch, y + dy, x + dx);
            out.at(ch, y, x) = ref_blend(im.at(ch, y, x), round_half_up(sum / 13.0), sign, m);
          }
      return out;
    case 10:  // ShearX: source x = x + k (y - cy), k = s m / 100
      return ref_affine(im, 1, sign * q16(m / 100.0), 0, 1, 0, 0, fill);
    case 11:
      return ref_affine(im, 1, 0, sign * q16(m / 100.0), 1, 0, 0, fill);
    case 12:  // TranslateX: content moves s floor(0.45 m / 30 W) pixels right
      return ref_affine(im, 1, 0, 0, 1, -sign * std::floor(3.0 * m * im.w / 200.0), 0, fill);
    case 13:
      return ref_affine(im, 1, 0, 0, 1, 0, -sign * std::floor(3.0 * m * im.h / 200.0), fill);
  }
  FAIL("unknown op ", op);
  return out;
}

Image sample_of(const Tensor& batch, int64_t i) {
  Image im;
  im.c = int(batch.size(1)), im.h = int(batch.size(2)), im.w = int(batch.size(3));
  const uint8_t* p = batch.data<uint8_t>() + i * im.c * im.h * im.w;
  im.v.assign(p, p + size_t(im.c) * im.h * im.w);
  return im;
}

// Random non-zero images with a per-sample range and a skewed distribution, so
// AutoContrast and Equalize have something to do.
Tensor random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t = empty({n, c, h, w}, DType::U8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int lo = 1 + int(rng() % 90), span = 30 + int(rng() % 130);
    for (int64_t k = 0; k < c * h * w; ++k) {
      const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      p[i * c * h * w + k] = static_cast<uint8_t>(lo + int(span * u * u));
    }
  }
  return t;
}

// The draw contract written out: op j of sample i uses philox4x32(seed, offset + j*N + i).
struct Draw {
  int op, sign;
  bool applied;
};
Draw draw(uint64_t seed, uint64_t offset, int64_t n, int64_t i, int j, float op_prob) {
  const Philox4 r = philox4x32(seed, offset + uint64_t(j) * uint64_t(n) + uint64_t(i));
  return {int(r.v[0] % 14), (r.v[2] & 1) ? -1 : 1, philox_uniform_f32(r.v[1]) < op_prob};
}

AugmentSpec weak_spec(int64_t channels, int pad, float flip) {
  AugmentSpec s;
  s.pad = pad;
  s.flip_prob = flip;
  // Means no pixel value hits (v/255 - mean is never 0), so a 0 is Cutout's.
  const float mean[3] = {0.313f, 0.427f, 0.519f}, std[3] = {0.2f, 0.25f, 0.3f};
  for (int64_t k = 0; k < channels; ++k) {
    s.mean[k] = mean[k];
    s.std[k] = std[k];
  }
  return s;
}

}  // namespace

TEST_CASE("data: every RandAugment op matches its f64 reference, 1 and 3 channels") {
  for (const int64_t channels : {int64_t(1), int64_t(3)}) {
    for (const int m : {5, 10, 30}) {
      const int64_t n = 300, h = channels == 1 ? 28 : 32, w = channels == 1 ? 28 : 32;
      const Tensor x = random_images(n, channels, h, w, uint32_t(11 * m + channels));
      RandAugmentSpec spec;
      spec.num_ops = 1;
      spec.magnitude = m;
      spec.op_prob = 1.0f;
      spec.fill = 77;
      const uint64_t seed = 99 + m, offset = 1000;
      Tensor out = empty(x.shape(), DType::U8);
      backend_for(Device::cpu()).rand_augment(x, spec, seed, offset, out);
      std::set<int> seen, changed;
      for (int64_t i = 0; i < n; ++i) {
        const Draw d = draw(seed, offset, n, i, 0, 1.0f);
        REQUIRE(d.applied);
        seen.insert(d.op * 2 + (d.sign > 0));
        const Image in = sample_of(x, i), got = sample_of(out, i), want = ref_op(d.op, d.sign, m, 77, in);
        INFO("channels ", channels, ", magnitude ", m, ", sample ", i, ": ", std::string(kOpNames[d.op]), " sign ", d.sign);
        CHECK(got.v == want.v);
        if (got.v != in.v) changed.insert(d.op);
      }
      CHECK(seen.size() == 28);  // every op drawn with both signs
      // Every op but Identity (and Color on gray images) changes some image.
      for (int op = 1; op < 14; ++op) {
        if (op == 5 && channels == 1) continue;
        INFO("op ", std::string(kOpNames[op]), " left every image as it was (channels ", channels, ", magnitude ", m, ")");
        CHECK(changed.count(op) == 1);
      }
    }
  }
}

TEST_CASE("data: RandAugment chains num_ops draws, each applied with op_prob") {
  for (const int64_t channels : {int64_t(1), int64_t(3)}) {
    const int64_t n = 64;
    const Tensor x = random_images(n, channels, 9, 11, uint32_t(5 + channels));  // odd, non-square sizes
    RandAugmentSpec spec;
    spec.num_ops = 3;
    spec.magnitude = 12;
    spec.op_prob = 0.5f;
    Tensor out = empty(x.shape(), DType::U8);
    backend_for(Device::cpu()).rand_augment(x, spec, 7, 3, out);
    int applied = 0, skipped = 0;
    for (int64_t i = 0; i < n; ++i) {
      Image want = sample_of(x, i);
      for (int j = 0; j < spec.num_ops; ++j) {
        const Draw d = draw(7, 3, n, i, j, spec.op_prob);
        (d.applied ? applied : skipped) += 1;
        if (d.applied) want = ref_op(d.op, d.sign, spec.magnitude, spec.fill, want);
      }
      INFO("channels ", channels, ", sample ", i);
      CHECK(sample_of(out, i).v == want.v);
    }
    CHECK(applied > 50);
    CHECK(skipped > 50);
  }
}

TEST_CASE("data: strong_augment is RandAugment, then the weak augment, then Cutout, on its counter layout") {
  for (const int64_t channels : {int64_t(1), int64_t(3)}) {
    const int64_t n = 24, side = channels == 1 ? 28 : 32;
    const Tensor x = random_images(n, channels, side, side, uint32_t(40 + channels));
    const AugmentSpec weak = weak_spec(channels, 4, 0.5f);
    StrongAugmentSpec strong;
    strong.magnitude = 10;
    Generator gen(2024);
    gen.advance(17);
    const Tensor got = strong_augment(x, weak, strong, gen);
    CHECK(gen.offset() == 17 + uint64_t(strong.num_ops + 2) * n);
    // Expected: the reference ops on counters 17 + (1 + j) n + i ...
    Tensor mixed = empty(x.shape(), DType::U8);
    for (int64_t i = 0; i < n; ++i) {
      Image im = sample_of(x, i);
      for (int j = 0; j < strong.num_ops; ++j) {
        const Draw d = draw(2024, 17 + uint64_t(n), n, i, j, strong.op_prob);
        if (d.applied) im = ref_op(d.op, d.sign, strong.magnitude, strong.fill, im);
      }
      for (size_t k = 0; k < im.v.size(); ++k) mixed.data<uint8_t>()[i * int64_t(im.v.size()) + k] = uint8_t(im.v[k]);
    }
    // ... the weak augment (tested in data_augment.cpp) on counters 17 + i ...
    Generator weak_gen(2024);
    weak_gen.advance(17);
    std::vector<float> want = augment(mixed, weak, weak_gen).to_vector<float>();
    // ... and a 5 px (32 * 0.15 = 4.8) or 4 px (28 * 0.15 = 4.2) square of zeros on counters 17 + 3n + i.
    const int64_t cut = channels == 1 ? 4 : 5;
    CHECK(cutout_side(strong, side, side) == cut);
    for (int64_t i = 0; i < n; ++i) {
      const Philox4 r = philox4x32(2024, 17 + 3 * uint64_t(n) + uint64_t(i));
      const int64_t y0 = r.v[0] % (side - cut + 1), x0 = r.v[1] % (side - cut + 1);
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t y = y0; y < y0 + cut; ++y)
          for (int64_t xx = x0; xx < x0 + cut; ++xx) want[((i * channels + c) * side + y) * side + xx] = 0.0f;
    }
    CHECK(got.to_vector<float>() == want);
  }
}

TEST_CASE("data: strong_augment is deterministic for a seed and differs across seeds") {
  const Tensor x = random_images(16, 3, 32, 32, 3);
  const AugmentSpec weak = weak_spec(3, 4, 0.5f);
  StrongAugmentSpec strong;
  Generator a(5), b(5), c(6);
  const std::vector<float> first = strong_augment(x, weak, strong, a).to_vector<float>();
  CHECK(first == strong_augment(x, weak, strong, b).to_vector<float>());
  CHECK(first != strong_augment(x, weak, strong, c).to_vector<float>());
  // The next batch of the same generator draws afresh; replaying its state repeats it.
  Generator replay(5);
  replay.set_state(5, a.offset());
  const std::vector<float> second = strong_augment(x, weak, strong, a).to_vector<float>();
  CHECK(second != first);
  CHECK(second == strong_augment(x, weak, strong, replay).to_vector<float>());
}

TEST_CASE("data: strong_augment with op_prob 0 and no Cutout is the weak augmentation exactly") {
  for (const int64_t channels : {int64_t(1), int64_t(3)}) {
    const Tensor x = random_images(20, channels, 28, 28, uint32_t(8 + channels));
    const AugmentSpec weak = weak_spec(channels, 2, 0.5f);
    StrongAugmentSpec strong;
    strong.magnitude = 30;
    strong.op_prob = 0.0f;
    strong.cutout_frac = 0.0f;
    Generator g1(77), g2(77);
    g1.advance(9);
    g2.advance(9);
    CHECK(strong_augment(x, weak, strong, g1).to_vector<float>() == augment(x, weak, g2).to_vector<float>());
  }
}

TEST_CASE("data: Cutout zeroes one square of the stated side per sample, all channels") {
  for (const int64_t side : {int64_t(28), int64_t(32)}) {
    const int64_t n = 40, c = 3;
    const Tensor x = random_images(n, c, side, side, 21);
    const AugmentSpec plain = weak_spec(c, 0, 0.0f);
    const std::vector<float> clean = normalize(x, plain).to_vector<float>();
    for (const float frac : {0.15f, 0.5f}) {
      StrongAugmentSpec strong;
      strong.op_prob = 0.0f;
      strong.cutout_frac = frac;
      const int64_t cut = std::llround(double(frac) * double(side));
      Generator gen(31);
      const std::vector<float> got = strong_augment(x, plain, strong, gen).to_vector<float>();
      std::set<std::pair<int64_t, int64_t>> corners;
      for (int64_t i = 0; i < n; ++i) {
        // The zeroed pixels of the first channel: their bounding box must be
        // a cut x cut square holding exactly cut^2 of them, the same in every channel.
        int64_t y_lo = side, y_hi = -1, x_lo = side, x_hi = -1, zeros = 0;
        for (int64_t y = 0; y < side; ++y)
          for (int64_t xx = 0; xx < side; ++xx) {
            const size_t k = size_t(((i * c) * side + y) * side + xx);
            if (got[k] != 0.0f) {
              CHECK(got[k] == clean[k]);
              continue;
            }
            ++zeros;
            y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y), x_lo = std::min(x_lo, xx), x_hi = std::max(x_hi, xx);
          }
        INFO("side ", side, ", fraction ", frac, ", sample ", i);
        CHECK(zeros == cut * cut);
        CHECK(y_hi - y_lo + 1 == cut);
        CHECK(x_hi - x_lo + 1 == cut);
        corners.insert({y_lo, x_lo});
        for (int64_t ch = 1; ch < c; ++ch)
          for (int64_t y = 0; y < side; ++y)
            for (int64_t xx = 0; xx < side; ++xx) {
              const bool in_square = y >= y_lo && y <= y_hi && xx >= x_lo && xx <= x_hi;
              CHECK((got[size_t(((i * c + ch) * side + y) * side + xx)] == 0.0f) == in_square);
            }
      }
      CHECK(corners.size() > 10);  // the square moves from sample to sample
    }
  }
}

TEST_CASE("data: strong_augment rejects bad input without consuming randomness") {
  const Tensor x = random_images(2, 3, 8, 8, 1);
  const AugmentSpec weak = weak_spec(3, 1, 0.5f);
  Generator gen(1);
  StrongAugmentSpec bad;
  bad.magnitude = 31;
  CHECK_THROWS_AS(strong_augment(x, weak, bad, gen), basin::Error);
  bad = StrongAugmentSpec{};
  bad.num_ops = 9;
  CHECK_THROWS_AS(strong_augment(x, weak, bad, gen), basin::Error);
  bad = StrongAugmentSpec{};
  bad.cutout_frac = 1.5f;
  CHECK_THROWS_AS(strong_augment(x, weak, bad, gen), basin::Error);
  bad = StrongAugmentSpec{};
  bad.fill = 256;
  CHECK_THROWS_AS(strong_augment(x, weak, bad, gen), basin::Error);
  CHECK_THROWS_AS(strong_augment(random_images(2, 2, 8, 8, 1), weak, StrongAugmentSpec{}, gen), basin::Error);
  CHECK_THROWS_AS(strong_augment(empty({2, 3, 8, 8}, DType::F32), weak, StrongAugmentSpec{}, gen), basin::Error);
  AugmentSpec bad_weak = weak;
  bad_weak.std[1] = 0.0f;  // rejected by the weak stage, after the counters were reserved
  CHECK_THROWS_AS(strong_augment(x, bad_weak, StrongAugmentSpec{}, gen), basin::Error);
  CHECK(gen.offset() == 0);
  try {
    bad = StrongAugmentSpec{};
    bad.magnitude = -1;
    strong_augment(x, weak, bad, gen);
    FAIL("no error");
  } catch (const basin::Error& e) {
    CHECK(std::string(e.what()).find("magnitude -1") != std::string::npos);
  }
}
