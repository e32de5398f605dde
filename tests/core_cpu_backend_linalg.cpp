// Tests of the CPU backend's adapters onto the gemm / conv / pool kernels:
// batched gemm with transposes and a broadcast B, and the tensor-level conv
// and pooling entry points, each against a plain double loop.
#include "tests/cpu_backend_testing.h"

using namespace basin;
using namespace basin::cpu_testing;

TEST_CASE("core: cpu backend gemm batches, transposes and broadcasts B") {
  const int64_t batch = 3, M = 5, N = 7, K = 4;
  for (DType dtype : {DType::F64, DType::F32}) {
    for (int flags = 0; flags < 8; ++flags) {
      const bool ta = flags & 1, tb = flags & 2, bcast = flags & 4;
      CAPTURE(ta);
      CAPTURE(tb);
      CAPTURE(bcast);
      const int64_t b_batches = bcast ? 1 : batch;
      Tensor A = make(random_values(batch * M * K, 80 + flags), {batch * M * K}, dtype);
      Tensor B = make(random_values(b_batches * K * N, 90 + flags), {b_batches * K * N}, dtype);
      Tensor Cm = make(random_values(batch * M * N, 100 + flags), {batch * M * N}, dtype);
      const std::vector<double> a = values_of(A), b = values_of(B), c0 = values_of(Cm);
      const double alpha = 0.75, beta = -0.5;
      be().gemm(ta, tb, batch, M, N, K, alpha, A, B, beta, Cm, bcast);
      std::vector<double> want(c0.size());
      for (int64_t p = 0; p < batch; ++p)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double av = ta ? a[p * M * K + k * M + i] : a[p * M * K + i * K + k];
              const int64_t bb = bcast ? 0 : p * K * N;
              const double bv = tb ? b[bb + j * K + k] : b[bb + k * N + j];
              acc += av * bv;
            }
            want[p * M * N + i * N + j] = alpha * acc + beta * c0[p * M * N + i * N + j];
          }
      check_close(values_of(Cm), want, dtype == DType::F32 ? 1e-5 : 1e-12, "gemm");
    }
  }
  Tensor A = empty({10}, DType::F64), B = empty({12}, DType::F64), C = empty({6}, DType::F64);
  CHECK_THROWS_AS(be().gemm(false, false, 1, 2, 3, 4, 1.0, A, B, 0.0, C), basin::Error);
}

TEST_CASE("core: cpu backend conv2d_forward and pooling entry points") {
  const int64_t N = 2, Ci = 3, H = 6, W = 5, Co = 4, KH = 3, KW = 2;
  Conv2dParams p;
  p.stride_h = 2;
  p.pad_h = 1;
  p.pad_w = 1;
  const int64_t OH = window_out_size(H, KH, 2, 1), OW = window_out_size(W, KW, 1, 1);
  Tensor x = make(random_values(N * Ci * H * W, 110), {N, Ci, H, W});
  Tensor w = make(random_values(Co * Ci * KH * KW, 111), {Co, Ci, KH, KW});
  Tensor bias = make(random_values(Co, 112), {Co});
  Tensor y = empty({N, Co, OH, OW}, DType::F64);
  be().conv2d_forward(x, w, bias, y, p);
  const std::vector<double> xv = values_of(x), wv = values_of(w), bv = values_of(bias);
  std::vector<double> want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < Co; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = bv[o];
          for (int64_t c = 0; c < Ci; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t iy = oy * 2 - 1 + ky, ix = ox - 1 + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += xv[((n * Ci + c) * H + iy) * W + ix] * wv[((o * Ci + c) * KH + ky) * KW + kx];
              }
          want.push_back(acc);
        }
  check_close(values_of(y), want, 1e-12, "conv2d_forward");
  Tensor y32 = empty({N, Co, OH, OW}, DType::F32);
  CHECK_THROWS_AS(be().conv2d_forward(x, w, bias, y32, p), basin::Error);

  // 2x2 max pool, stride 2, over the [N, Ci, 6, 5] input -> [N, Ci, 3, 2]
  Pool2dParams pp;
  Tensor py = empty({N, Ci, 3, 2}, DType::F64), pi = empty({N, Ci, 3, 2}, DType::I32);
  be().max_pool2d_forward(x, py, pi, pp);
  const std::vector<double> got = values_of(py), gi = values_of(pi);
  for (int64_t plane = 0; plane < N * Ci; ++plane)
    for (int64_t oy = 0; oy < 3; ++oy)
      for (int64_t ox = 0; ox < 2; ++ox) {
        double best = -1e300;
        int64_t at = -1;
        for (int64_t ky = 0; ky < 2; ++ky)
          for (int64_t kx = 0; kx < 2; ++kx) {
            const int64_t iy = oy * 2 + ky, ix = ox * 2 + kx;
            if (xv[plane * H * W + iy * W + ix] > best) {
              best = xv[plane * H * W + iy * W + ix];
              at = iy * W + ix;
            }
          }
        CHECK(got[plane * 6 + oy * 2 + ox] == best);
        CHECK(gi[plane * 6 + oy * 2 + ox] == at);
      }
  Tensor pa = empty({N, Ci, 3, 2}, DType::F64);
  be().avg_pool2d_forward(x, pa, pp);
  const std::vector<double> av = values_of(pa);
  for (int64_t plane = 0; plane < N * Ci; ++plane)
    for (int64_t oy = 0; oy < 3; ++oy)
      for (int64_t ox = 0; ox < 2; ++ox) {
        double s = 0;
        for (int64_t ky = 0; ky < 2; ++ky)
          for (int64_t kx = 0; kx < 2; ++kx) s += xv[plane * H * W + (oy * 2 + ky) * W + ox * 2 + kx];
        CHECK(av[plane * 6 + oy * 2 + ox] == doctest::Approx(s / 4).epsilon(1e-12));
      }
}
