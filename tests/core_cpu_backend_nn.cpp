// Tests of the CPU backend's batch norm, softmax and cross-entropy kernels:
// forward values against double loops, gradients against central finite
// differences in double, and the errors for bad labels.
#include <algorithm>
#include <functional>

#include "tests/cpu_backend_testing.h"

using namespace basin;
using namespace basin::cpu_testing;

namespace {

// Central differences of scalar f at x (modified in place and restored).
std::vector<double> numeric_gradient(std::vector<double>& x,
                                     const std::function<double()>& f, double eps = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double plus = f();
    x[i] = saved - eps;
    const double minus = f();
    x[i] = saved;
    g[i] = (plus - minus) / (2 * eps);
  }
  return g;
}

double weighted_sum(const std::vector<double>& a, const std::vector<double>& w) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * w[i];
  return s;
}

}  // namespace

TEST_CASE("core: cpu batch_norm_train statistics, running update and output") {
  for (DType dtype : {DType::F64, DType::F32}) {
    for (const Shape& shape : {Shape{4, 3, 2, 5}, Shape{6, 3}}) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(shape.size());
      const int64_t N = shape[0], C = 3, plane = shape.size() == 4 ? 10 : 1, m = N * plane;
      Tensor x = make(random_values(shape_numel(shape), 20, -2, 3), shape, dtype);
      Tensor gamma = make(random_values(C, 21), {C}, dtype), beta = make(random_values(C, 22), {C}, dtype);
      Tensor rm = make(random_values(C, 23), {C}, dtype);
      Tensor rv = make(random_values(C, 24, 0.5, 2.0), {C}, dtype);
      const std::vector<double> xv = values_of(x), g = values_of(gamma), b = values_of(beta),
                                rm0 = values_of(rm), rv0 = values_of(rv);
      Tensor y = empty(shape, dtype), sm = empty({C}, dtype), si = empty({C}, dtype);
      const double momentum = 0.1, eps = 1e-5;
      be().batch_norm_train(x, gamma, beta, rm, rv, true, momentum, eps, y, sm, si);
      std::vector<double> mean(C, 0), var(C, 0), want_y(xv.size());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < plane; ++i) mean[c] += xv[(n * C + c) * plane + i] / m;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < plane; ++i) {
            const double d = xv[(n * C + c) * plane + i] - mean[c];
            var[c] += d * d / m;
          }
      std::vector<double> want_invstd(C), want_rm(C), want_rv(C);
      for (int64_t c = 0; c < C; ++c) {
        want_invstd[c] = 1.0 / std::sqrt(var[c] + eps);
        want_rm[c] = 0.9 * rm0[c] + 0.1 * mean[c];
        want_rv[c] = 0.9 * rv0[c] + 0.1 * var[c] * m / (m - 1);  // unbiased
      }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < plane; ++i) {
            const int64_t k = (n * C + c) * plane + i;
            want_y[k] = (xv[k] - mean[c]) * want_invstd[c] * g[c] + b[c];
          }
      const double tol = dtype == DType::F32 ? 1e-5 : 1e-12;
      check_close(values_of(sm), mean, tol, "save_mean");
      check_close(values_of(si), want_invstd, tol, "save_invstd");
      check_close(values_of(rm), want_rm, tol, "running_mean");
      check_close(values_of(rv), want_rv, tol, "running_var");
      check_close(values_of(y), want_y, tol, "y");

      // eval with the updated running statistics
      Tensor ye = empty(shape, dtype);
      be().batch_norm_eval(x, gamma, beta, rm, rv, eps, ye);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < plane; ++i) {
            const int64_t k = (n * C + c) * plane + i;
            want_y[k] = (xv[k] - want_rm[c]) / std::sqrt(want_rv[c] + eps) * g[c] + b[c];
          }
      check_close(values_of(ye), want_y, tol, "eval y");
    }
  }
}

TEST_CASE("core: cpu batch_norm_backward matches finite differences") {
  for (bool affine : {true, false}) {
    CAPTURE(affine);
    const Shape shape{3, 2, 2, 3};
    const int64_t C = 2, n = shape_numel(shape);
    std::vector<double> xv = random_values(n, 30, -2, 2), gv = random_values(C, 31),
                        bv = random_values(C, 32);
    const std::vector<double> R = random_values(n, 33);
    Tensor none_rm, none_rv;
    auto forward = [&](Tensor* sm_out, Tensor* si_out) {
      Tensor x = make(xv, shape), y = empty(shape, DType::F64), sm = empty({C}, DType::F64), si = empty({C}, DType::F64);
      Tensor gamma = affine ? make(gv, {C}) : Tensor(), beta = affine ? make(bv, {C}) : Tensor();
      be().batch_norm_train(x, gamma, beta, none_rm, none_rv, false, 0.1, 1e-5, y, sm, si);
      if (sm_out) *sm_out = sm;
      if (si_out) *si_out = si;
      return weighted_sum(values_of(y), R);
    };
    Tensor sm, si;
    forward(&sm, &si);
    Tensor gx = empty(shape, DType::F64), gg = empty({C}, DType::F64), gb = empty({C}, DType::F64);
    Tensor x = make(xv, shape), gy = make(R, shape);
    Tensor gamma = affine ? make(gv, {C}) : Tensor();
    Tensor ggamma = affine ? gg : Tensor(), gbeta = affine ? gb : Tensor();
    be().batch_norm_backward(gy, x, gamma, sm, si, gx, ggamma, gbeta);
    auto f = [&] { return forward(nullptr, nullptr); };
    check_close(values_of(gx), numeric_gradient(xv, f), 1e-6, "gx");
    if (affine) {
      check_close(values_of(gg), numeric_gradient(gv, f), 1e-6, "ggamma");
      check_close(values_of(gb), numeric_gradient(bv, f), 1e-6, "gbeta");
    }
  }
}

TEST_CASE("core: cpu fused batch_norm + relu against the composition and double loops") {
  // Odd planes (21: a tail after the 8-lane blocks), a 2-D input, gamma of
  // both signs so the ReLU mask cuts every channel differently.
  for (DType dtype : {DType::F64, DType::F32}) {
    for (const Shape& shape : {Shape{3, 5, 3, 7}, Shape{5, 3, 4, 4}, Shape{7, 3}}) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(shape_str(shape));
      const int64_t N = shape[0], C = shape[1], n = shape_numel(shape);
      const int64_t plane = n / (N * C), m = N * plane;
      const Tensor x = make(random_values(n, 70, -2, 3), shape, dtype);
      const Tensor gamma = make(random_values(C, 71, -1.5, 1.5), {C}, dtype);
      const Tensor beta = make(random_values(C, 72, -0.5, 0.5), {C}, dtype);
      const Tensor gy = make(random_values(n, 73, -1, 1), shape, dtype);
      const std::vector<double> xv = values_of(x), g = values_of(gamma), b = values_of(beta),
                                gyv = values_of(gy);
      const double eps = 1e-5;
      Tensor rm = zeros({C}, dtype), rv = ones({C}, dtype), rm2 = zeros({C}, dtype), rv2 = ones({C}, dtype);
      Tensor y = empty(shape, dtype), sm = empty({C}, dtype), si = empty({C}, dtype);
      Tensor y2 = empty(shape, dtype), sm2 = empty({C}, dtype), si2 = empty({C}, dtype);
      be().batch_norm_relu_train(x, gamma, beta, rm, rv, true, 0.1, eps, y, sm, si);
      // The composed default (batch_norm_train, then a ReLU): the same bits.
      be().Backend::batch_norm_relu_train(x, gamma, beta, rm2, rv2, true, 0.1, eps, y2, sm2, si2);
      CHECK(values_of(y) == values_of(y2));
      CHECK(values_of(rm) == values_of(rm2));
      CHECK(values_of(rv) == values_of(rv2));

      // Double loops: y = max(xhat*gamma + beta, 0); the backward of the masked gy.
      std::vector<double> mean(C, 0), var(C, 0);
      auto at = [&](int64_t i, int64_t c, int64_t k) { return (i * C + c) * plane + k; };
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < plane; ++k) mean[c] += xv[at(i, c, k)] / m;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < plane; ++k) var[c] += std::pow(xv[at(i, c, k)] - mean[c], 2) / m;
      std::vector<double> want_y(n), xhat(n), gm(n), sum_g(C, 0), sum_gx(C, 0);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < plane; ++k) {
            const int64_t j = at(i, c, k);
            xhat[j] = (xv[j] - mean[c]) / std::sqrt(var[c] + eps);
            want_y[j] = std::max(0.0, xhat[j] * g[c] + b[c]);
            gm[j] = want_y[j] > 0 ? gyv[j] : 0.0;
            sum_g[c] += gm[j];
            sum_gx[c] += gm[j] * xhat[j];
          }
      std::vector<double> want_gx(n);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < plane; ++k) {
            const int64_t j = at(i, c, k);
            want_gx[j] = g[c] / std::sqrt(var[c] + eps) *
                         (gm[j] - sum_g[c] / m - xhat[j] * sum_gx[c] / m);
          }
      const double tol = dtype == DType::F32 ? 2e-5 : 1e-12;
      check_close(values_of(y), want_y, tol, "fused y");
      int64_t zeros_seen = 0;
      for (double v : values_of(y)) zeros_seen += v == 0.0;
      CHECK(zeros_seen > 0);  // the mask is exercised
      CHECK(zeros_seen < n);

      Tensor gx = empty(shape, dtype), gg = empty({C}, dtype), gb = empty({C}, dtype);
      Tensor gx2 = empty(shape, dtype), gg2 = empty({C}, dtype), gb2 = empty({C}, dtype);
      be().batch_norm_relu_backward(gy, y, x, gamma, sm, si, gx, gg, gb);
      be().Backend::batch_norm_relu_backward(gy, y, x, gamma, sm, si, gx2, gg2, gb2);
      CHECK(values_of(gx) == values_of(gx2));
      CHECK(values_of(gg) == values_of(gg2));
      CHECK(values_of(gb) == values_of(gb2));
      check_close(values_of(gx), want_gx, tol, "fused gx");
      check_close(values_of(gg), sum_gx, tol * m, "fused ggamma");
      check_close(values_of(gb), sum_g, tol * m, "fused gbeta");
    }
  }
}

TEST_CASE("core: cpu batch_norm_relu kernels reject mismatched tensors") {
  const Tensor x = make(random_values(24, 74), {2, 3, 2, 2}), gy = make(random_values(24, 75), {2, 3, 2, 2});
  Tensor none, sm = empty({3}, DType::F64), si = empty({3}, DType::F64), gx = empty({2, 3, 2, 2}, DType::F64);
  Tensor short_y = empty({2, 3, 2}, DType::F64);
  CHECK_THROWS_WITH_AS(be().batch_norm_relu_train(x, none, none, none, none, false, 0.1, 1e-5, short_y, sm, si),
                       doctest::Contains("batch_norm_relu_train"), Error);
  CHECK_THROWS_WITH_AS(be().batch_norm_relu_backward(gy, short_y, x, none, sm, si, gx, none, none),
                       doctest::Contains("batch_norm_relu_backward"), Error);
}

TEST_CASE("core: cpu softmax and log_softmax forward and backward") {
  const int64_t rows = 4, cols = 6;
  for (bool log : {false, true}) {
    CAPTURE(log);
    // large offsets check the max-subtraction: exp(1000) would overflow
    std::vector<double> xv = random_values(rows * cols, 40, -3, 3);
    for (int64_t c = 0; c < cols; ++c) xv[c] += 1000.0;
    const std::vector<double> R = random_values(rows * cols, 41);
    auto forward = [&] {
      Tensor x = make(xv, {rows, cols}), y = empty({rows, cols}, DType::F64);
      be().softmax_rows(x, y, log);
      return y;
    };
    const std::vector<double> yv = values_of(forward());
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -1e300, s = 0;
      for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xv[r * cols + c]);
      for (int64_t c = 0; c < cols; ++c) s += std::exp(xv[r * cols + c] - mx);
      for (int64_t c = 0; c < cols; ++c) {
        const double lp = xv[r * cols + c] - mx - std::log(s);
        CHECK(yv[r * cols + c] == doctest::Approx(log ? lp : std::exp(lp)).epsilon(1e-12));
      }
    }
    Tensor gx = empty({rows, cols}, DType::F64);
    be().softmax_backward_rows(make(R, {rows, cols}), forward(), log, gx);
    auto f = [&] { return weighted_sum(values_of(forward()), R); };
    check_close(values_of(gx), numeric_gradient(xv, f), 1e-6, "softmax gx");

    // f32 agrees with f64
    Tensor x32 = make(xv, {rows, cols}, DType::F32), y32 = empty({rows, cols}, DType::F32);
    be().softmax_rows(x32, y32, log);
    check_close(values_of(y32), values_of(forward()), 1e-4, "softmax f32");
  }
}

TEST_CASE("core: cpu cross_entropy with label smoothing, gradient and bad labels") {
  const int64_t N = 5, C = 4;
  const std::vector<int64_t> labels_v = {0, 3, 1, 1, 2};
  Tensor labels = from_vector<int64_t>(labels_v, {N});
  for (double s : {0.0, 0.1}) {
    CAPTURE(s);
    std::vector<double> xv = random_values(N * C, 50, -4, 4);
    const std::vector<double> gl = random_values(N, 51);
    auto forward = [&] {
      Tensor x = make(xv, {N, C}), loss = empty({N}, DType::F64);
      be().cross_entropy_forward(x, labels, s, loss);
      return values_of(loss);
    };
    const std::vector<double> loss = forward();
    for (int64_t i = 0; i < N; ++i) {
      double mx = -1e300, z = 0;
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, xv[i * C + c]);
      for (int64_t c = 0; c < C; ++c) z += std::exp(xv[i * C + c] - mx);
      double want = 0;
      for (int64_t c = 0; c < C; ++c) {
        const double target = (1 - s) * (c == labels_v[i] ? 1.0 : 0.0) + s / C;
        want -= target * (xv[i * C + c] - mx - std::log(z));
      }
      CHECK(loss[i] == doctest::Approx(want).epsilon(1e-12));
    }
    Tensor glogits = empty({N, C}, DType::F64);
    be().cross_entropy_backward(make(xv, {N, C}), labels, s, make(gl, {N}), glogits);
    auto f = [&] { return weighted_sum(forward(), gl); };
    check_close(values_of(glogits), numeric_gradient(xv, f), 1e-6, "cross-entropy grad");
  }
  Tensor bad = from_vector<int64_t>({0, 1, 7, 0, 0}, {N});
  Tensor x = make(random_values(N * C, 52), {N, C}), loss = empty({N}, DType::F64);
  CHECK_THROWS_WITH_AS(be().cross_entropy_forward(x, bad, 0.0, loss),
                       doctest::Contains("label 7 of row 2"), basin::Error);
  Tensor g = empty({N, C}, DType::F64);
  CHECK_THROWS_WITH_AS(be().cross_entropy_backward(x, bad, 0.0, make(random_values(N, 53), {N}), g),
                       doctest::Contains("label 7"), basin::Error);
}
