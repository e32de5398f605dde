// Tests of the CPU pooling kernels (core/cpu/pool.cpp): max and average pooling
// forward and backward against plain loops for several windows, strides and
// paddings, plus hand-computed tie-breaking and padding cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu/pool.h"

namespace {

using basin::Pool2dParams;
using basin::cpu::PoolShape;

Pool2dParams pool_params(int kh, int kw, int sh, int sw, int ph, int pw, bool include_pad) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.count_include_pad = include_pad;
  return p;
}

PoolShape pool_shape(int64_t N, int64_t C, int64_t H, int64_t W, const Pool2dParams& p) {
  return {N, C, H, W, (H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1,
          (W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1};
}

std::vector<Pool2dParams> param_cases(bool include_pad) {
  return {pool_params(2, 2, 2, 2, 0, 0, include_pad), pool_params(3, 3, 2, 2, 1, 1, include_pad),
          pool_params(3, 2, 1, 2, 1, 0, include_pad), pool_params(2, 3, 3, 1, 1, 1, include_pad),
          pool_params(4, 4, 4, 4, 0, 0, include_pad)};
}

template <class T>
std::vector<T> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.1, 1.0);
  std::bernoulli_distribution negative(0.5);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(negative(rng) ? -u(rng) : u(rng));
  return v;
}

template <class T>
void check_max_pool(double tolerance) {
  std::mt19937 rng(3);
  for (const Pool2dParams& p : param_cases(true)) {
    const PoolShape s = pool_shape(3, 4, 9, 8, p);
    INFO("kernel ", p.kernel_h, "x", p.kernel_w, " stride ", p.stride_h, "x", p.stride_w, " pad ",
         p.pad_h, "x", p.pad_w);
    const int64_t hw = s.H * s.W, ohw = s.OH * s.OW, planes = s.N * s.C;
    const auto x = random_values<T>(size_t(planes * hw), rng);
    const auto gy = random_values<T>(size_t(planes * ohw), rng);
    std::vector<T> y(size_t(planes * ohw)), gx(size_t(planes * hw), T(std::nan("")));
    std::vector<int32_t> idx(size_t(planes * ohw), -7);
    basin::cpu::max_pool2d_forward<T>(s, p, x.data(), y.data(), idx.data());
    basin::cpu::max_pool2d_backward<T>(s, gy.data(), idx.data(), gx.data());

    std::vector<double> gx_ref(size_t(planes * hw), 0.0);
    bool forward_ok = true;
    for (int64_t pl = 0; pl < planes; ++pl)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double best = -1e300;
          int64_t best_at = -1;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t h = oh * p.stride_h - p.pad_h + kh, w = ow * p.stride_w - p.pad_w + kw;
              if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
              if (x[size_t(pl * hw + h * s.W + w)] > best) {
                best = x[size_t(pl * hw + h * s.W + w)];
                best_at = h * s.W + w;
              }
            }
          const size_t o = size_t(pl * ohw + oh * s.OW + ow);
          if (double(y[o]) != best || idx[o] != best_at) forward_ok = false;
          gx_ref[size_t(pl * hw + best_at)] += double(gy[o]);
        }
    CHECK(forward_ok);
    double worst = 0.0;
    for (size_t i = 0; i < gx.size(); ++i) {
      const double g = gx[i];
      worst = std::max(worst, std::isfinite(g) ? std::fabs(g - gx_ref[i]) : 1e300);
    }
    CHECK(worst <= tolerance);
  }
}

template <class T>
void check_avg_pool(double tolerance) {
  std::mt19937 rng(8);
  for (bool include_pad : {true, false})
    for (const Pool2dParams& p : param_cases(include_pad)) {
      const PoolShape s = pool_shape(2, 3, 7, 10, p);
      INFO("kernel ", p.kernel_h, "x", p.kernel_w, " stride ", p.stride_h, "x", p.stride_w,
           " pad ", p.pad_h, "x", p.pad_w, " count_include_pad ", include_pad);
      const int64_t hw = s.H * s.W, ohw = s.OH * s.OW, planes = s.N * s.C;
      const auto x = random_values<T>(size_t(planes * hw), rng);
      const auto gy = random_values<T>(size_t(planes * ohw), rng);
      std::vector<T> y(size_t(planes * ohw)), gx(size_t(planes * hw), T(std::nan("")));
      basin::cpu::avg_pool2d_forward<T>(s, p, x.data(), y.data());
      basin::cpu::avg_pool2d_backward<T>(s, p, gy.data(), gx.data());

      std::vector<double> gx_ref(size_t(planes * hw), 0.0);
      double worst_y = 0.0;
      for (int64_t pl = 0; pl < planes; ++pl)
        for (int64_t oh = 0; oh < s.OH; ++oh)
          for (int64_t ow = 0; ow < s.OW; ++ow) {
            double sum = 0.0;
            int64_t real = 0, padded = 0;
            for (int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t h = oh * p.stride_h - p.pad_h + kh;
                const int64_t w = ow * p.stride_w - p.pad_w + kw;
                // taps beyond the padded border are not part of the window
                if (h >= s.H + p.pad_h || w >= s.W + p.pad_w) continue;
                ++padded;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                ++real;
                sum += x[size_t(pl * hw + h * s.W + w)];
              }
            const double divisor = double(include_pad ? padded : real);
            const size_t o = size_t(pl * ohw + oh * s.OW + ow);
            worst_y = std::max(worst_y, std::fabs(double(y[o]) - sum / divisor));
            for (int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t h = oh * p.stride_h - p.pad_h + kh;
                const int64_t w = ow * p.stride_w - p.pad_w + kw;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                gx_ref[size_t(pl * hw + h * s.W + w)] += double(gy[o]) / divisor;
              }
          }
      CHECK(worst_y <= tolerance);
      double worst = 0.0;
      for (size_t i = 0; i < gx.size(); ++i) {
        const double g = gx[i];
        worst = std::max(worst, std::isfinite(g) ? std::fabs(g - gx_ref[i]) : 1e300);
      }
      CHECK(worst <= tolerance);
    }
}

}  // namespace

TEST_CASE("core: cpu pool max forward/backward against loops") {
  check_max_pool<float>(1e-6);
  check_max_pool<double>(1e-14);
}

TEST_CASE("core: cpu pool avg forward/backward against loops, count_include_pad both ways") {
  check_avg_pool<float>(1e-6);
  check_avg_pool<double>(1e-14);
}

TEST_CASE("core: cpu pool max ties pick the first position; padding never wins") {
  // One 3x3 plane, 2x2 windows, stride 1, pad 1: output 4x4.
  const float x[9] = {-5, -2, -2,   //
                      -2, -3, -9,   //
                      -4, -4, -1};
  const Pool2dParams p = pool_params(2, 2, 1, 1, 1, 1, true);
  const PoolShape s{1, 1, 3, 3, 4, 4};
  float y[16];
  int32_t idx[16];
  basin::cpu::max_pool2d_forward<float>(s, p, x, y, idx);
  // every window sees at least one real pixel, all negative: padding (0) never wins
  const float y_expected[16] = {-5, -2, -2, -2,  //
                                -2, -2, -2, -2,  //
                                -2, -2, -1, -1,  //
                                -4, -4, -1, -1};
  const int32_t idx_expected[16] = {0, 1, 1, 2,   //
                                    3, 1, 1, 2,   //
                                    3, 3, 8, 8,   //
                                    6, 6, 8, 8};
  for (int i = 0; i < 16; ++i) {
    INFO("output ", i);
    CHECK(y[i] == y_expected[i]);
    CHECK(idx[i] == idx_expected[i]);
  }
  // The gradient goes to the winning (first) position only, summed over windows.
  float gy[16], gx[9];
  for (int i = 0; i < 16; ++i) gy[i] = float(i + 1);
  basin::cpu::max_pool2d_backward<float>(s, gy, idx, gx);
  const float gx_expected[9] = {1, 2 + 3 + 6 + 7, 4 + 8, 5 + 9 + 10, 0, 0, 13 + 14, 0,
                                11 + 12 + 15 + 16};
  for (int i = 0; i < 9; ++i) CHECK(gx[i] == gx_expected[i]);
}

TEST_CASE("core: cpu pool max backward rejects an index outside the plane") {
  const PoolShape s{1, 1, 2, 2, 1, 1};
  const double gy[1] = {1.0};
  const int32_t idx[1] = {4};
  double gx[4];
  CHECK_THROWS(basin::cpu::max_pool2d_backward<double>(s, gy, idx, gx));
}
