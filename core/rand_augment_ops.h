// RandAugment's operations, shared by the CPU kernel (core/cpu/cpu_rand_augment.cpp)
// and the CUDA one (cuda/rand_augment.cu). Every operation is integer
// arithmetic on uint8 pixels, with the few real constants (rotation) rounded
// on the host to 16 fractional bits, so both backends produce the same bytes
// whatever their floating-point contraction. Definitions: docs/algorithms.md,
// "Strong augmentation". Included by .cu files, hence BASIN_HD.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"
#include "core/error.h"
#include "core/philox.h"

namespace basin::rand_augment {

// The draw order: op = v[0] % kNumOps picks from this list.
enum Op : int {
  kIdentity, kAutoContrast, kEqualize, kRotate, kSolarize, kColor, kPosterize,
  kContrast, kBrightness, kSharpness, kShearX, kShearY, kTranslateX, kTranslateY,
  kNumOps
};
constexpr int kMaxOps = 8;  // bound on RandAugmentSpec::num_ops (the plan lives in registers)
constexpr int kLevels = 256;

struct Step {
  int op;
  int sign;  // +1 or -1: the direction of a signed op's magnitude
};
// The operations a sample actually gets, in order (not applied and Identity
// draws dropped).
struct Plan {
  int count;
  Step steps[kMaxOps];
};

// Sample i's plan; op j draws philox4x32(seed, offset + j*batch + i) (see RandAugmentSpec).
BASIN_HD Plan draw_plan(uint64_t seed, uint64_t offset, uint64_t batch, uint64_t i, int num_ops, float op_prob) {
  Plan plan{};
  plan.count = 0;
  for (int j = 0; j < num_ops && j < kMaxOps; ++j) {
    const Philox4 r = philox4x32(seed, offset + uint64_t(j) * batch + i);
    const int op = static_cast<int>(r.v[0] % uint32_t(kNumOps));
    const bool applied = philox_uniform_f32(r.v[1]) < op_prob;
    if (!applied || op == kIdentity) continue;
    plan.steps[plan.count].op = op;
    plan.steps[plan.count].sign = (r.v[2] & 1u) ? -1 : 1;
    ++plan.count;
  }
  return plan;
}

// Operations that map each channel's values through a 256-entry table.
BASIN_HD bool is_lookup(int op) {
  return op == kAutoContrast || op == kEqualize || op == kSolarize || op == kPosterize || op == kContrast ||
         op == kBrightness;
}
BASIN_HD bool needs_histogram(int op) { return op == kAutoContrast || op == kEqualize; }
BASIN_HD bool needs_gray_sum(int op) { return op == kContrast; }
BASIN_HD bool is_geometric(int op) {
  return op == kRotate || op == kShearX || op == kShearY || op == kTranslateX || op == kTranslateY;
}

// floor(a / b) for b > 0.
BASIN_HD int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

BASIN_HD uint8_t clamp_u8(int64_t v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// Gray level of the pixel at `px` (channel planes `plane` apart): ITU-R 601
// luma rounded half up for 3 channels, the value itself for 1.
BASIN_HD int gray(const uint8_t* px, int64_t plane, int channels) {
  if (channels != 3) return px[0];
  return (299 * px[0] + 587 * px[plane] + 114 * px[2 * plane] + 500) / 1000;
}

// The enhancement blend d + f (v - d), f = factor100 / 100, rounded half up and clamped.
BASIN_HD uint8_t blend(int v, int d, int factor100) {
  return clamp_u8(floor_div(100 * int64_t(d) + int64_t(factor100) * (v - d) + 50, 100));
}

// Everything an operation needs from the magnitude m (and the image size),
// resolved once on the host.
struct Constants {
  int magnitude;
  int fill;
  int64_t rot_cos_q16, rot_sin_q16;  // cos, sin of m degrees, times 2^16, rounded
  int64_t shear_q16;                 // m / 100 (= 0.3 m / 30), times 2^16, rounded
  int64_t translate_x, translate_y;  // floor(0.45 m/30 * side) pixels
  int solarize_threshold;            // 256 - round(256 m / 30)
  int posterize_mask;                // keeps the top 8 - round(4 m / 30) bits
};

// Host only: the trigonometry runs here, so both backends use the same constants.
inline Constants make_constants(const RandAugmentSpec& spec, int64_t height, int64_t width) {
  const int m = spec.magnitude;
  Constants k{};
  k.magnitude = m;
  k.fill = spec.fill;
  const double radians = m * (3.14159265358979323846 / 180.0);
  k.rot_cos_q16 = std::llround(std::cos(radians) * 65536.0);
  k.rot_sin_q16 = std::llround(std::sin(radians) * 65536.0);
  k.shear_q16 = (int64_t(m) * 65536 + 50) / 100;
  k.translate_x = 3 * m * width / 200;
  k.translate_y = 3 * m * height / 200;
  k.solarize_threshold = 256 - (256 * m + 15) / 30;
  const int bits = 8 - (4 * m + 15) / 30;
  k.posterize_mask = (0xFF << (8 - bits)) & 0xFF;
  return k;
}

// The enhancement factor of Color, Contrast, Brightness and Sharpness, times
// 100: 1 + sign * 0.9 m / 30.
BASIN_HD int enhance_factor100(const Constants& k, int sign) { return 100 + 3 * sign * k.magnitude; }

// Channel table of a lookup op. hist: the channel's 256-bin histogram (for
// AutoContrast, Equalize); pixels: H*W; mean_gray: the rounded mean gray level
// of the image (for Contrast).
BASIN_HD void build_lut(int op, int sign, const Constants& k, const int* hist, int64_t pixels, int mean_gray,
                        uint8_t* lut) {
  for (int v = 0; v < kLevels; ++v) lut[v] = static_cast<uint8_t>(v);
  if (op == kAutoContrast) {
    int lo = 0, hi = kLevels - 1;
    while (lo < kLevels && hist[lo] == 0) ++lo;
    while (hi >= 0 && hist[hi] == 0) --hi;
    if (hi <= lo) return;  // a constant channel stays as it is
    for (int v = 0; v < kLevels; ++v) lut[v] = clamp_u8(floor_div(int64_t(v - lo) * 255, hi - lo));
  } else if (op == kEqualize) {
    int last = kLevels - 1;
    while (last > 0 && hist[last] == 0) --last;
    const int64_t step = (pixels - hist[last]) / 255;
    if (step == 0) return;  // (nearly) one level: nothing to spread
    int64_t below = step / 2;
    for (int v = 0; v < kLevels; ++v) {
      lut[v] = clamp_u8(below / step);
      below += hist[v];
    }
  } else if (op == kSolarize) {
    for (int v = k.solarize_threshold; v < kLevels; ++v) lut[v] = static_cast<uint8_t>(255 - v);
  } else if (op == kPosterize) {
    for (int v = 0; v < kLevels; ++v) lut[v] = static_cast<uint8_t>(v & k.posterize_mask);
  } else if (op == kContrast) {
    for (int v = 0; v < kLevels; ++v) lut[v] = blend(v, mean_gray, enhance_factor100(k, sign));
  } else if (op == kBrightness) {
    for (int v = 0; v < kLevels; ++v) lut[v] = blend(v, 0, enhance_factor100(k, sign));
  }
}

// Rounded mean gray level from the sum over the image's pixels.
BASIN_HD int mean_gray(int64_t gray_sum, int64_t pixels) {
  return static_cast<int>(floor_div(2 * gray_sum + pixels, 2 * pixels));
}

// Output pixel (c, y, x) of a non-lookup op (Color, Sharpness, the geometric
// ops) on the sample image `img` [C, H, W].
BASIN_HD uint8_t pixel(int op, int sign, const Constants& k, const uint8_t* img, int channels, int64_t height,
                       int64_t width, int c, int64_t y, int64_t x) {
  const int64_t plane = height * width;
  const uint8_t* at = img + c * plane + y * width + x;
  if (op == kColor) {
    if (channels != 3) return *at;  // one channel: already gray
    return blend(*at, gray(img + y * width + x, plane, channels), enhance_factor100(k, sign));
  }
  if (op == kSharpness) {
    if (y == 0 || x == 0 || y == height - 1 || x == width - 1) return *at;  // the border is kept
    int sum = 4 * at[0];  // smoothing kernel [[1,1,1],[1,5,1],[1,1,1]] / 13
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) sum += at[dy * width + dx];
    return blend(*at, (sum + 6) / 13, enhance_factor100(k, sign));
  }
  // Geometric: the source of (x, y) is center + A (p - center) + t, A in
  // units of 2^-16, nearest pixel (half up), `fill` outside the image.
  int64_t a00 = 65536, a01 = 0, a10 = 0, a11 = 65536, tx = 0, ty = 0;
  if (op == kRotate) {  // counter-clockwise for sign +1
    a00 = a11 = k.rot_cos_q16;
    a01 = -sign * k.rot_sin_q16;
    a10 = sign * k.rot_sin_q16;
  } else if (op == kShearX) {
    a01 = sign * k.shear_q16;
  } else if (op == kShearY) {
    a10 = sign * k.shear_q16;
  } else if (op == kTranslateX) {  // content moves right for sign +1
    tx = -sign * k.translate_x;
  } else if (op == kTranslateY) {  // content moves down for sign +1
    ty = -sign * k.translate_y;
  }
  // Doubled coordinates about the center keep everything integer.
  const int64_t u = 2 * x - (width - 1), v = 2 * y - (height - 1);
  const int64_t sx = floor_div(a00 * u + a01 * v + (width - 1 + 2 * tx) * 65536 + 65536, 131072);
  const int64_t sy = floor_div(a10 * u + a11 * v + (height - 1 + 2 * ty) * 65536 + 65536, 131072);
  if (sx < 0 || sx >= width || sy < 0 || sy >= height) return static_cast<uint8_t>(k.fill);
  return img[c * plane + sy * width + sx];
}

// Host only: the argument checks of both backends and of data/strong_augment.
inline void check_rand_augment_spec(const char* where, const RandAugmentSpec& spec) {
  BASIN_CHECK(spec.num_ops >= 0 && spec.num_ops <= kMaxOps, where, ": num_ops ", spec.num_ops,
              " outside [0, ", kMaxOps, "]");
  BASIN_CHECK(spec.magnitude >= 0 && spec.magnitude <= 30, where, ": magnitude ", spec.magnitude,
              " outside [0, 30]");
  BASIN_CHECK(spec.op_prob >= 0.0f && spec.op_prob <= 1.0f, where, ": op probability ", spec.op_prob,
              " outside [0, 1]");
  BASIN_CHECK(spec.fill >= 0 && spec.fill <= 255, where, ": fill ", spec.fill, " outside [0, 255]");
}

inline void check_rand_augment_args(const char* where, const Tensor& src, const RandAugmentSpec& spec,
                                    const Tensor& out) {
  check_rand_augment_spec(where, spec);
  BASIN_CHECK(src.dtype() == DType::U8 && src.dim() == 4 && (src.size(1) == 1 || src.size(1) == 3), where,
              ": expected a u8 [N, C, H, W] batch with 1 or 3 channels, got ", src.str());
  BASIN_CHECK(out.dtype() == DType::U8 && out.shape() == src.shape(), where, ": out ", out.str(),
              " must be u8 with src's shape");
  BASIN_CHECK(src.numel() == 0 || src.raw_data() != out.raw_data(), where, ": out must not alias src");
}

inline void check_cutout_args(const char* where, const Tensor& x, int64_t side) {
  BASIN_CHECK(x.dtype() == DType::F32 && x.dim() == 4, where, ": expected f32 [N, C, H, W], got ", x.str());
  BASIN_CHECK(side > 0 && side <= x.size(2) && side <= x.size(3), where, ": square side ", side,
              " outside [1, min(H, W)] for ", x.str());
}

// Cutout's top-left corner for sample i (see Backend::cutout).
struct Corner {
  int64_t y0, x0;
};
BASIN_HD Corner cutout_corner(uint64_t seed, uint64_t counter, int64_t height, int64_t width, int64_t side) {
  const Philox4 r = philox4x32(seed, counter);
  return {int64_t(r.v[0] % uint32_t(height - side + 1)), int64_t(r.v[1] % uint32_t(width - side + 1))};
}

}  // namespace basin::rand_augment
