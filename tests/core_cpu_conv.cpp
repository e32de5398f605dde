// Tests of the CPU convolution kernels (core/cpu/conv.cpp): forward and both
// backward passes against direct double loops over many stride / pad / dilation /
// kernel combinations, adjoint identities in double, and thread-count determinism.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/cpu/conv.h"

namespace {

using basin::Conv2dParams;
using basin::cpu::ConvShape;

struct ConvCase {
  int64_t N, C_in, H, W, C_out, KH, KW;
  Conv2dParams p;
};

ConvShape shape_of(const ConvCase& c) {
  ConvShape s{c.N, c.C_in, c.H, c.W, c.C_out, c.KH, c.KW, 0, 0};
  s.OH = (c.H + 2 * c.p.pad_h - c.p.dilation_h * (c.KH - 1) - 1) / c.p.stride_h + 1;
  s.OW = (c.W + 2 * c.p.pad_w - c.p.dilation_w * (c.KW - 1) - 1) / c.p.stride_w + 1;
  return s;
}

Conv2dParams params(int sh, int sw, int ph, int pw, int dh, int dw) {
  Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  return p;
}

// 1x1 (pointwise, one sample and grouped), 1x1 stride 2, 3x3 pad 1, 3x3 stride 2,
// non-square with dilation, padding larger than the kernel reach, a batch that
// splits into uneven sample groups, same-width stride-1 shapes, and a kernel as
// large as the input.
std::vector<ConvCase> cases() {
  return {
      {2, 5, 48, 47, 3, 1, 1, params(1, 1, 0, 0, 1, 1)},
      {6, 7, 5, 6, 4, 1, 1, params(1, 1, 0, 0, 1, 1)},
      {3, 6, 9, 8, 5, 1, 1, params(2, 2, 0, 0, 1, 1)},
      {2, 3, 8, 7, 4, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {3, 4, 9, 10, 6, 3, 3, params(2, 2, 1, 1, 1, 1)},
      {2, 3, 11, 9, 2, 5, 3, params(2, 1, 2, 1, 2, 1)},
      {2, 2, 7, 8, 3, 2, 3, params(1, 3, 3, 2, 1, 2)},
      {5, 2, 28, 28, 3, 3, 3, params(1, 1, 1, 1, 1, 1)},
      // same output width at stride 1 (the shifted-copy im2col): a taller
      // kernel than padding (OH < H), dilation with more padding in h (OH > H)
      {2, 3, 9, 7, 4, 5, 3, params(1, 1, 1, 1, 1, 1)},
      {2, 3, 8, 9, 3, 3, 3, params(1, 1, 3, 2, 2, 2)},
      {3, 2, 4, 2, 2, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {2, 3, 5, 4, 2, 5, 4, params(1, 1, 0, 0, 1, 1)},
      {1, 1, 1, 1, 1, 1, 1, params(1, 1, 0, 0, 1, 1)},
      // more than 48 output channels: im2col writes gemm's packed layout
      // (a partial last sliver; two k blocks at stride 2; pointwise over a
      // group of samples; more columns than one gemm column block)
      {3, 5, 9, 7, 56, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {2, 30, 6, 5, 50, 3, 3, params(2, 2, 1, 1, 1, 1)},
      {4, 3, 5, 5, 49, 1, 1, params(1, 1, 0, 0, 1, 1)},
      {1, 2, 60, 55, 49, 3, 3, params(1, 1, 1, 1, 1, 1)},
      // 3x3 stride 1 pad 1 on maps of 64+ pixels: the implicit GEMM
      // (core/cpu/conv_implicit.h): odd channel counts, a non-square map, more
      // than 256 rows of K (C_in*9 = 270, two k blocks), a map narrower than
      // it is tall, and more outputs than one 48-column tile per row
      {3, 5, 9, 8, 7, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {2, 30, 8, 9, 20, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {4, 3, 13, 5, 53, 3, 3, params(1, 1, 1, 1, 1, 1)},
      {2, 17, 10, 11, 9, 3, 3, params(1, 1, 1, 1, 1, 1)},
  };
}

template <class T>
std::vector<T> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.1, 1.0);
  std::bernoulli_distribution negative(0.5);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(negative(rng) ? -u(rng) : u(rng));
  return v;
}

// Calls f(n, co, ci, oh, ow, kh, kw, x_index, y_index, w_index) for every
// (output, kernel tap) pair that reads a real (non-padded) input pixel.
template <class F>
void for_each_tap(const ConvShape& s, const Conv2dParams& p, F f) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t co = 0; co < s.C_out; ++co)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow)
          for (int64_t ci = 0; ci < s.C_in; ++ci)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                f(((n * s.C_in + ci) * s.H + ih) * s.W + iw,
                  ((n * s.C_out + co) * s.OH + oh) * s.OW + ow,
                  ((co * s.C_in + ci) * s.KH + kh) * s.KW + kw);
              }
}

// Max over elements of |got - ref| / (scale + tiny), scale = sum of |terms|.
template <class T>
double rel_error(const std::vector<T>& got, const std::vector<double>& ref,
                 const std::vector<double>& scale) {
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i];
    worst = std::max(worst, std::isfinite(g) ? std::fabs(g - ref[i]) / (scale[i] + 1e-30) : 1e300);
  }
  return worst;
}

template <class T>
void check_against_loops(double tolerance) {
  std::mt19937 rng(42);
  for (const ConvCase& c : cases()) {
    const ConvShape s = shape_of(c);
    INFO("N=", c.N, " Cin=", c.C_in, " H=", c.H, " W=", c.W, " Cout=", c.C_out, " K=", c.KH, "x",
         c.KW, " stride=", c.p.stride_h, "x", c.p.stride_w, " pad=", c.p.pad_h, "x", c.p.pad_w,
         " dil=", c.p.dilation_h, "x", c.p.dilation_w);
    const size_t nx = size_t(s.N * s.C_in * s.H * s.W), ny = size_t(s.N * s.C_out * s.OH * s.OW),
                 nw = size_t(s.C_out * s.C_in * s.KH * s.KW);
    const auto x = random_values<T>(nx, rng), w = random_values<T>(nw, rng),
               gy = random_values<T>(ny, rng), bias = random_values<T>(size_t(s.C_out), rng);

    std::vector<double> y_ref(ny), y_scale(ny), gx_ref(nx, 0.0), gx_scale(nx, 0.0),
        gw_ref(nw, 0.0), gw_scale(nw, 0.0);
    for (size_t i = 0; i < ny; ++i) {
      const int64_t co = int64_t(i) / (s.OH * s.OW) % s.C_out;
      y_ref[i] = bias[size_t(co)];
      y_scale[i] = std::fabs(double(bias[size_t(co)]));
    }
    for_each_tap(s, c.p, [&](int64_t xi, int64_t yi, int64_t wi) {
      const double xv = x[size_t(xi)], wv = w[size_t(wi)], gv = gy[size_t(yi)];
      y_ref[size_t(yi)] += xv * wv;
      y_scale[size_t(yi)] += std::fabs(xv * wv);
      gx_ref[size_t(xi)] += gv * wv;
      gx_scale[size_t(xi)] += std::fabs(gv * wv);
      gw_ref[size_t(wi)] += gv * xv;
      gw_scale[size_t(wi)] += std::fabs(gv * xv);
    });

    std::vector<T> y(ny, T(std::nan(""))), gx(nx, T(std::nan(""))), gw(nw, T(std::nan("")));
    basin::cpu::conv2d_forward<T>(s, c.p, x.data(), w.data(), bias.data(), y.data());
    basin::cpu::conv2d_backward_input<T>(s, c.p, gy.data(), w.data(), gx.data());
    basin::cpu::conv2d_backward_weight<T>(s, c.p, gy.data(), x.data(), gw.data());
    CHECK(rel_error(y, y_ref, y_scale) <= tolerance);
    CHECK(rel_error(gx, gx_ref, gx_scale) <= tolerance);  // pixels no tap reads must be 0
    CHECK(rel_error(gw, gw_ref, gw_scale) <= tolerance);

    // No bias: the forward is the plain correlation.
    basin::cpu::conv2d_forward<T>(s, c.p, x.data(), w.data(), nullptr, y.data());
    for (size_t i = 0; i < ny; ++i) {
      const double b = bias[size_t(int64_t(i) / (s.OH * s.OW) % s.C_out)];
      y_ref[i] -= b;
      y_scale[i] -= std::fabs(b);
    }
    CHECK(rel_error(y, y_ref, y_scale) <= tolerance);
  }
}

double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

TEST_CASE("core: cpu conv float forward and backward against loops") {
  check_against_loops<float>(1e-5);
}

TEST_CASE("core: cpu conv double forward and backward against loops") {
  check_against_loops<double>(1e-12);
}

TEST_CASE("core: cpu conv backward passes are adjoints of the forward (double)") {
  std::mt19937 rng(5);
  for (const ConvCase& c : cases()) {
    const ConvShape s = shape_of(c);
    INFO("N=", c.N, " Cin=", c.C_in, " H=", c.H, " K=", c.KH, "x", c.KW, " stride=",
         c.p.stride_h, " pad=", c.p.pad_h, " dil=", c.p.dilation_h);
    const size_t nx = size_t(s.N * s.C_in * s.H * s.W), ny = size_t(s.N * s.C_out * s.OH * s.OW),
                 nw = size_t(s.C_out * s.C_in * s.KH * s.KW);
    const auto x = random_values<double>(nx, rng), w = random_values<double>(nw, rng),
               gy = random_values<double>(ny, rng);
    std::vector<double> y(ny), gx(nx), gw(nw);
    basin::cpu::conv2d_forward<double>(s, c.p, x.data(), w.data(), nullptr, y.data());
    basin::cpu::conv2d_backward_input<double>(s, c.p, gy.data(), w.data(), gx.data());
    basin::cpu::conv2d_backward_weight<double>(s, c.p, gy.data(), x.data(), gw.data());
    const double lhs = inner(y, gy);
    CHECK(std::fabs(lhs - inner(x, gx)) <= 1e-12 * (std::fabs(lhs) + double(ny)));
    CHECK(std::fabs(lhs - inner(w, gw)) <= 1e-12 * (std::fabs(lhs) + double(ny)));
  }
}

TEST_CASE("core: cpu conv gives the same bits on 1 and 2 threads") {
  std::mt19937 rng(11);
  // 8 samples of 16x16 form two groups: spread over the threads on 2, in order on 1
  const ConvCase c{8, 8, 16, 16, 12, 3, 3, params(1, 1, 1, 1, 1, 1)};
  const ConvShape s = shape_of(c);
  const size_t nx = size_t(s.N * s.C_in * s.H * s.W), ny = size_t(s.N * s.C_out * s.OH * s.OW),
               nw = size_t(s.C_out * s.C_in * s.KH * s.KW);
  const auto x = random_values<float>(nx, rng), w = random_values<float>(nw, rng),
             gy = random_values<float>(ny, rng);
  std::vector<float> y[2], gx[2], gw[2];
  const int saved = omp_get_max_threads();
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t + 1);
    y[t].resize(ny), gx[t].resize(nx), gw[t].resize(nw);
    basin::cpu::conv2d_forward<float>(s, c.p, x.data(), w.data(), nullptr, y[t].data());
    basin::cpu::conv2d_backward_input<float>(s, c.p, gy.data(), w.data(), gx[t].data());
    basin::cpu::conv2d_backward_weight<float>(s, c.p, gy.data(), x.data(), gw[t].data());
  }
  omp_set_num_threads(saved);
  CHECK(y[0] == y[1]);
  CHECK(gx[0] == gx[1]);
  CHECK(gw[0] == gw[1]);
}
