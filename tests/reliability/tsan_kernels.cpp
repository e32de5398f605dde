// ThreadSanitizer probe of the OpenMP-parallel raw-pointer CPU kernels
// (tests/reliability/tsan_kernels.sh, docs/reliability.md): gemm in its four
// transpose variants and through the direct-B path, convolution forward and
// both backward passes, max and average pooling forward and backward. Each
// runs with several OpenMP threads on random non-zero inputs and is compared
// with a plain double loop, so a race that changes a result fails here even
// where TSan stays silent. Exit status 0: every result agrees.
// BASIN_TSAN_PLANT_RACE=1 adds one deliberate race (an OpenMP sum without a
// reduction) and one correct reduction: the script checks that TSan reports
// the first, so a silent run means something.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cpu/conv.h"
#include "core/cpu/gemm.h"
#include "core/cpu/pool.h"

using namespace basin;
using namespace basin::cpu;

namespace {

int failures = 0;

std::vector<float> random_values(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen) + (u(gen) > 0 ? 0.05f : -0.05f);  // never zero
  return v;
}

void expect_close(const char* what, const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  const bool ok = got.size() == want.size() && worst < 1e-4;
  std::printf("%-34s %s (max relative error %.2e)\n", what, ok ? "ok" : "MISMATCH", worst);
  failures += !ok;
}

void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const char* what) {
  const std::vector<float> A = random_values(M * K, 1), B = random_values(K * N, 2);
  std::vector<float> C = random_values(M * N, 3);
  std::vector<double> want(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
      want[i * N + j] = 0.5 * acc + 0.25 * C[i * N + j];
    }
  gemm<float>(ta, tb, M, N, K, 0.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.25f, C.data(), N);
  expect_close(what, C, want);
}

void check_conv() {
  Conv2dParams p;
  p.stride_h = p.stride_w = 1;
  p.pad_h = p.pad_w = 1;
  const ConvShape s{4, 8, 12, 12, 16, 3, 3, 12, 12};
  const auto xi = [&](int64_t n, int64_t c, int64_t h, int64_t w) { return ((n * s.C_in + c) * s.H + h) * s.W + w; };
  const auto wi = [&](int64_t o, int64_t c, int64_t kh, int64_t kw) { return ((o * s.C_in + c) * s.KH + kh) * s.KW + kw; };
  const auto yi = [&](int64_t n, int64_t o, int64_t h, int64_t w) { return ((n * s.C_out + o) * s.OH + h) * s.OW + w; };
  const std::vector<float> x = random_values(s.N * s.C_in * s.H * s.W, 4), w = random_values(s.C_out * s.C_in * 9, 5),
                           bias = random_values(s.C_out, 6), gy = random_values(s.N * s.C_out * s.OH * s.OW, 7);
  std::vector<double> y_ref(gy.size()), gx_ref(x.size(), 0.0), gw_ref(w.size(), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.C_out; ++o)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double acc = bias[o];
          for (int64_t c = 0; c < s.C_in; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t h = oh - p.pad_h + kh, ww = ow - p.pad_w + kw;
                if (h < 0 || h >= s.H || ww < 0 || ww >= s.W) continue;
                acc += double(x[xi(n, c, h, ww)]) * w[wi(o, c, kh, kw)];
                gx_ref[xi(n, c, h, ww)] += double(gy[yi(n, o, oh, ow)]) * w[wi(o, c, kh, kw)];
                gw_ref[wi(o, c, kh, kw)] += double(gy[yi(n, o, oh, ow)]) * x[xi(n, c, h, ww)];
              }
          y_ref[yi(n, o, oh, ow)] = acc;
        }
  std::vector<float> y(y_ref.size()), gx(x.size()), gw(w.size());
  conv2d_forward<float>(s, p, x.data(), w.data(), bias.data(), y.data());
  conv2d_backward_input<float>(s, p, gy.data(), w.data(), gx.data());
  conv2d_backward_weight<float>(s, p, gy.data(), x.data(), gw.data());
  expect_close("conv2d forward 3x3 pad 1", y, y_ref);
  expect_close("conv2d backward input", gx, gx_ref);
  expect_close("conv2d backward weight", gw, gw_ref);
}

void check_pool() {
  Pool2dParams p;  // 2x2, stride 2
  const PoolShape s{4, 6, 10, 10, 5, 5};
  const std::vector<float> x = random_values(s.N * s.C * s.H * s.W, 8), gy = random_values(s.N * s.C * s.OH * s.OW, 9);
  std::vector<double> max_ref(gy.size()), avg_ref(gy.size()), gx_max_ref(x.size(), 0.0), gx_avg_ref(x.size(), 0.0);
  for (int64_t plane = 0; plane < s.N * s.C; ++plane)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t o = (plane * s.OH + oh) * s.OW + ow;
        int64_t arg = -1;
        double sum = 0;
        for (int64_t kh = 0; kh < 2; ++kh)
          for (int64_t kw = 0; kw < 2; ++kw) {
            const int64_t i = (plane * s.H + oh * 2 + kh) * s.W + ow * 2 + kw;
            sum += x[i];
            if (arg < 0 || x[i] > x[arg]) arg = i;
          }
        max_ref[o] = x[arg];
        avg_ref[o] = sum / 4;
        gx_max_ref[arg] += gy[o];
        for (int64_t kh = 0; kh < 2; ++kh)
          for (int64_t kw = 0; kw < 2; ++kw) gx_avg_ref[(plane * s.H + oh * 2 + kh) * s.W + ow * 2 + kw] += gy[o] / 4.0;
      }
  std::vector<float> y(gy.size()), gx(x.size());
  std::vector<int32_t> indices(gy.size());
  max_pool2d_forward<float>(s, p, x.data(), y.data(), indices.data());
  expect_close("max_pool2d forward", y, max_ref);
  max_pool2d_backward<float>(s, gy.data(), indices.data(), gx.data());
  expect_close("max_pool2d backward", gx, gx_max_ref);
  avg_pool2d_forward<float>(s, p, x.data(), y.data());
  expect_close("avg_pool2d forward", y, avg_ref);
  avg_pool2d_backward<float>(s, p, gy.data(), gx.data());
  expect_close("avg_pool2d backward", gx, gx_avg_ref);
}

void planted_race() {
  std::vector<double> a(4096);
  for (size_t i = 0; i < a.size(); ++i) a[i] = double(i);
  double racy = 0, reduced = 0;
#pragma omp parallel for
  for (int64_t i = 0; i < int64_t(a.size()); ++i) racy += a[i];  // the race
#pragma omp parallel for reduction(+ : reduced)
  for (int64_t i = 0; i < int64_t(a.size()); ++i) reduced += a[i];
  std::printf("planted race: %g, reduction: %g\n", racy, reduced);
}

}  // namespace

int main() {
  std::printf("OpenMP threads: %d\n", omp_get_max_threads());
  if (std::getenv("BASIN_TSAN_PLANT_RACE")) planted_race();
  check_gemm(false, false, 96, 80, 72, "gemm NN 96x80x72");
  check_gemm(true, false, 96, 80, 72, "gemm TN 96x80x72");
  check_gemm(false, true, 96, 80, 72, "gemm NT 96x80x72");
  check_gemm(true, true, 96, 80, 72, "gemm TT 96x80x72");
  check_gemm(false, false, 8, 300, 64, "gemm NN 8x300x64 (direct B)");
  check_gemm(false, false, 260, 260, 130, "gemm NN 260x260x130 (blocks)");
  check_conv();
  check_pool();
  std::printf("%s\n", failures ? "FAILED" : "all kernels agree with the double loops");
  return failures ? 1 : 0;
}
