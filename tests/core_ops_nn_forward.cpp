// Forward values of the network ops (conv2d, pooling, batch norm, softmax,
// cross-entropy, dropout) against plain double loops written here, in f32 and
// f64, on random non-zero inputs.
#include <doctest/doctest.h>

#include <limits>

#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

const DType kFloatTypes[] = {DType::F32, DType::F64};

// Direct convolution: the seven loops of the definition.
std::vector<double> conv2d_reference(const std::vector<double>& x, const Shape& xs,
                                     const std::vector<double>& w, const Shape& ws,
                                     const std::vector<double>* bias, const Conv2dParams& p,
                                     Shape* out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  const int64_t OH = (H + 2 * p.pad_h - p.dilation_h * (KH - 1) - 1) / p.stride_h + 1;
  const int64_t OW = (W + 2 * p.pad_w - p.dilation_w * (KW - 1) - 1) / p.stride_w + 1;
  std::vector<double> y(N * O * OH * OW);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bias ? (*bias)[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += x[((n * C + c) * H + ih) * W + iw] * w[((o * C + c) * KH + kh) * KW + kw];
              }
          y[((n * O + o) * OH + oh) * OW + ow] = acc;
        }
  *out_shape = {N, O, OH, OW};
  return y;
}

enum class PoolKind { Max, AvgIncludePad, AvgExcludePad };

std::vector<double> pool_reference(const std::vector<double>& x, const Shape& xs,
                                   const Pool2dParams& p, PoolKind kind, Shape* out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t OH = (H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  const int64_t OW = (W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  std::vector<double> y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), total = 0;
        int valid = 0;
        for (int kh = 0; kh < p.kernel_h; ++kh)
          for (int kw = 0; kw < p.kernel_w; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = x[(nc * H + ih) * W + iw];
            best = std::max(best, v);
            total += v;
            ++valid;
          }
        if (kind == PoolKind::Max) y.push_back(best);
        else if (kind == PoolKind::AvgIncludePad) y.push_back(total / (p.kernel_h * p.kernel_w));
        else y.push_back(total / valid);
      }
  *out_shape = {N, C, OH, OW};
  return y;
}

std::vector<double> log_softmax_reference(const std::vector<double>& x, int64_t rows, int64_t cols) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -1e300;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, x[r * cols + c]);
    double z = 0;
    for (int64_t c = 0; c < cols; ++c) z += std::exp(x[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] - m - std::log(z);
  }
  return out;
}

}  // namespace

TEST_CASE("core: conv2d against a direct loop") {
  struct Case {
    Shape x, w;
    Conv2dParams p;
    bool bias;
  };
  std::vector<Case> cases;
  cases.push_back({{2, 3, 5, 5}, {4, 3, 3, 3}, Conv2dParams{}, true});
  Conv2dParams strided;
  strided.stride_h = strided.stride_w = 2;
  strided.pad_h = strided.pad_w = 1;
  cases.push_back({{1, 2, 7, 6}, {3, 2, 3, 3}, strided, false});
  Conv2dParams odd;
  odd.stride_h = 1, odd.stride_w = 2, odd.pad_h = 2, odd.pad_w = 1, odd.dilation_h = 2, odd.dilation_w = 1;
  cases.push_back({{2, 2, 7, 9}, {3, 2, 3, 2}, odd, true});
  Conv2dParams pointwise;
  cases.push_back({{1, 5, 4, 3}, {2, 5, 1, 1}, pointwise, true});
  uint32_t seed = 300;
  for (DType dt : kFloatTypes) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const Tensor x = random_tensor(c.x, seed++, dt), w = random_tensor(c.w, seed++, dt);
      const Tensor b = c.bias ? random_tensor({c.w[0]}, seed++, dt) : Tensor();
      const std::vector<double> bv = c.bias ? to_doubles(b) : std::vector<double>();
      Shape ys;
      const std::vector<double> expected = conv2d_reference(to_doubles(x), c.x, to_doubles(w), c.w,
                                                            c.bias ? &bv : nullptr, c.p, &ys);
      check_tensor(conv2d(x, w, b, c.p), ys, expected, dt == DType::F32 ? 2e-5 : 1e-12,
                   cat("conv2d case ", i, " ", dtype_name(dt)));
    }
  }
}

TEST_CASE("core: max_pool2d, avg_pool2d, global_avg_pool2d") {
  std::vector<Pool2dParams> params(3);
  params[1].kernel_h = params[1].kernel_w = 3;
  params[1].pad_h = params[1].pad_w = 1;
  params[2].kernel_h = 3, params[2].kernel_w = 2, params[2].stride_h = 2, params[2].stride_w = 1;
  params[2].pad_h = 1, params[2].pad_w = 0;
  for (DType dt : kFloatTypes) {
    const Shape xs{2, 3, 7, 6};
    const Tensor x = random_tensor(xs, 320u, dt, -2.0, 2.0);
    const std::vector<double> xv = to_doubles(x);
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string what = cat(dtype_name(dt), " params ", i);
      Shape ys;
      std::vector<double> expected = pool_reference(xv, xs, params[i], PoolKind::Max, &ys);
      check_tensor(max_pool2d(x, params[i]), ys, expected, 0, "max_pool2d " + what);
      Pool2dParams p = params[i];
      p.count_include_pad = true;
      expected = pool_reference(xv, xs, p, PoolKind::AvgIncludePad, &ys);
      check_tensor(avg_pool2d(x, p), ys, expected, tolerance(dt), "avg_pool2d include pad " + what);
      p.count_include_pad = false;
      expected = pool_reference(xv, xs, p, PoolKind::AvgExcludePad, &ys);
      check_tensor(avg_pool2d(x, p), ys, expected, tolerance(dt), "avg_pool2d exclude pad " + what);
    }
    std::vector<double> gap;
    for (int64_t nc = 0; nc < 6; ++nc) {
      double acc = 0;
      for (int64_t k = 0; k < 42; ++k) acc += xv[nc * 42 + k];
      gap.push_back(acc / 42);
    }
    check_tensor(global_avg_pool2d(x), {2, 3}, gap, tolerance(dt), "global_avg_pool2d");
  }
}

TEST_CASE("core: batch_norm train and eval, running statistics") {
  const double momentum = 0.1, eps = 1e-5;
  for (DType dt : kFloatTypes) {
    for (const Shape& xs : {Shape{4, 3, 2, 3}, Shape{5, 3}}) {
      const std::string what = cat(dtype_name(dt), " ", shape_str(xs));
      const int64_t N = xs[0], C = xs[1], S = xs.size() == 4 ? xs[2] * xs[3] : 1;
      const Tensor x = random_tensor(xs, 330u, dt, -2.0, 3.0);
      const Tensor gamma = random_tensor({C}, 331u, dt), beta = random_tensor({C}, 332u, dt);
      const Tensor rm0 = random_tensor({C}, 333u, dt), rv0 = random_tensor({C}, 334u, dt, 0.5, 2.0);
      const std::vector<double> xv = to_doubles(x), gv = to_doubles(gamma), bv = to_doubles(beta),
                                rmv = to_doubles(rm0), rvv = to_doubles(rv0);
      std::vector<double> y_train(xv.size()), y_eval(xv.size()), new_rm(C), new_rv(C);
      for (int64_t c = 0; c < C; ++c) {
        double m = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) m += xv[(n * C + c) * S + s];
        m /= N * S;
        double ss = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) ss += (xv[(n * C + c) * S + s] - m) * (xv[(n * C + c) * S + s] - m);
        const double var = ss / (N * S), unbiased = ss / (N * S - 1);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) {
            const int64_t i = (n * C + c) * S + s;
            y_train[i] = gv[c] * (xv[i] - m) / std::sqrt(var + eps) + bv[c];
            y_eval[i] = gv[c] * (xv[i] - rmv[c]) / std::sqrt(rvv[c] + eps) + bv[c];
          }
        new_rm[c] = (1 - momentum) * rmv[c] + momentum * m;
        new_rv[c] = (1 - momentum) * rvv[c] + momentum * unbiased;
      }
      const double tol = dt == DType::F32 ? 2e-5 : 1e-10;

      Tensor rm = rm0.clone(), rv = rv0.clone();
      check_tensor(batch_norm(x, gamma, beta, rm, rv, true, momentum, eps), xs, y_train, tol,
                   "batch_norm train " + what);
      check_tensor(rm, {C}, new_rm, tol, "running mean update " + what);
      check_tensor(rv, {C}, new_rv, tol, "running var update (unbiased) " + what);

      Tensor frozen_m = rm0.clone(), frozen_v = rv0.clone();
      check_tensor(batch_norm(x, gamma, beta, frozen_m, frozen_v, true, momentum, eps, false), xs,
                   y_train, tol, "batch_norm train, update_running=false " + what);
      check_tensor(frozen_m, {C}, rmv, 0, "running mean untouched " + what);
      check_tensor(frozen_v, {C}, rvv, 0, "running var untouched " + what);

      Tensor em = rm0.clone(), ev = rv0.clone();
      check_tensor(batch_norm(x, gamma, beta, em, ev, false, momentum, eps), xs, y_eval, tol,
                   "batch_norm eval " + what);
      check_tensor(em, {C}, rmv, 0, "eval leaves running mean " + what);
      check_tensor(ev, {C}, rvv, 0, "eval leaves running var " + what);
    }
  }
}

TEST_CASE("core: softmax and log_softmax") {
  for (DType dt : kFloatTypes) {
    const Tensor x = random_tensor({4, 7}, 340u, dt, -3.0, 3.0);
    const std::vector<double> ls = log_softmax_reference(to_doubles(x), 4, 7);
    std::vector<double> sm;
    for (double v : ls) sm.push_back(std::exp(v));
    check_tensor(log_softmax(x), {4, 7}, ls, tolerance(dt), "log_softmax");
    check_tensor(softmax(x), {4, 7}, sm, tolerance(dt), "softmax");
    // Large logits must not overflow.
    const Tensor big = add(x, 500.0);
    check_tensor(softmax(big), {4, 7}, sm, dt == DType::F32 ? 1e-4 : 1e-10, "softmax of shifted logits");
  }
}

TEST_CASE("core: cross_entropy with and without label smoothing") {
  const int64_t N = 5, C = 4;
  const std::vector<int64_t> label_values = {3, 0, 1, 3, 2};
  const Tensor labels = from_vector<int64_t>(label_values, {N});
  for (DType dt : kFloatTypes) {
    const Tensor logits = random_tensor({N, C}, 350u, dt, -2.0, 2.0);
    const std::vector<double> ls = log_softmax_reference(to_doubles(logits), N, C);
    for (double s : {0.0, 0.1, 0.3}) {
      std::vector<double> per_sample;
      double total = 0;
      for (int64_t i = 0; i < N; ++i) {
        double loss = 0;
        for (int64_t c = 0; c < C; ++c) {
          const double target = (c == label_values[i] ? 1.0 - s : 0.0) + s / C;
          loss -= target * ls[i * C + c];
        }
        per_sample.push_back(loss);
        total += loss;
      }
      const std::string what = cat(dtype_name(dt), " smoothing ", s);
      const Tensor got = cross_entropy_per_sample(logits, labels, s);
      CHECK(got.dtype() == dt);
      check_tensor(got, {N}, per_sample, tolerance(dt), "cross_entropy_per_sample " + what);
      const Tensor mean_loss = cross_entropy(logits, labels, s);
      CHECK(mean_loss.numel() == 1);
      check_close({mean_loss.item()}, {total / N}, tolerance(dt), "cross_entropy " + what);
    }
  }
}

TEST_CASE("core: dropout masks about p, scales by 1/(1-p), replays from the generator") {
  for (DType dt : kFloatTypes) {
    const int64_t n = 20000;
    const double p = 0.3;
    const Tensor x = random_tensor({n}, 360u, dt);
    const std::vector<double> xv = to_doubles(x);
    Generator gen(77);
    const Tensor y = dropout(x, p, true, gen);
    CHECK(gen.offset() > 0);
    const std::vector<double> yv = to_doubles(y);
    REQUIRE(yv.size() == xv.size());
    int64_t zeros_seen = 0, wrong_scale = 0;
    const double scale = 1.0 / (1.0 - p), rel = dt == DType::F32 ? 2e-7 : 1e-15;
    for (int64_t i = 0; i < n; ++i) {
      if (yv[i] == 0.0) ++zeros_seen;
      else if (std::fabs(yv[i] - xv[i] * scale) > rel * std::fabs(xv[i] * scale)) ++wrong_scale;
    }
    const double fraction = static_cast<double>(zeros_seen) / n;  // sd of fraction ~0.0032
    CHECK(fraction > p - 0.02);
    CHECK(fraction < p + 0.02);
    CHECK(wrong_scale == 0);

    Generator replay(77);
    CHECK(to_doubles(dropout(x, p, true, replay)) == yv);
    CHECK(replay.offset() == gen.offset());
    const std::vector<double> next = to_doubles(dropout(x, p, true, gen));  // advanced state
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += (next[i] == 0.0) != (yv[i] == 0.0);
    CHECK(differ > n / 10);

    Generator untouched(5);
    check_tensor(dropout(x, p, false, untouched), {n}, xv, 0, "dropout eval is identity");
    check_tensor(dropout(x, 0.0, true, untouched), {n}, xv, 0, "dropout p=0 is identity");
  }
}

TEST_CASE("core: network ops read strided and offset operands in logical order") {
  for (DType dt : kFloatTypes) {
    const double tol = dt == DType::F32 ? 2e-5 : 1e-12;
    // conv2d and pooling of a width-narrowed (non-contiguous) batch slice
    const Tensor xb = random_tensor({3, 2, 5, 8}, 370u, dt);
    const Tensor x = xb.slice(1, 3).narrow(3, 2, 5);  // [2, 2, 5, 5]
    const Tensor w = random_tensor({3, 2, 3, 3}, 371u, dt).transpose(2, 3);
    const std::vector<double> xv = to_doubles(x), wv = to_doubles(w);
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    Shape ys;
    std::vector<double> expected = conv2d_reference(xv, {2, 2, 5, 5}, wv, {3, 2, 3, 3}, nullptr, p, &ys);
    check_tensor(conv2d(x, w, Tensor(), p), ys, expected, tol, cat("conv2d of views ", dtype_name(dt)));
    Pool2dParams pp;
    expected = pool_reference(xv, {2, 2, 5, 5}, pp, PoolKind::Max, &ys);
    check_tensor(max_pool2d(x, pp), ys, expected, 0, "max_pool2d of a view");
    expected = pool_reference(xv, {2, 2, 5, 5}, pp, PoolKind::AvgIncludePad, &ys);
    check_tensor(avg_pool2d(x, pp), ys, expected, tol, "avg_pool2d of a view");

    // softmax and cross-entropy of transposed logits
    const Tensor lt = random_tensor({5, 4}, 372u, dt, -2.0, 2.0).t();  // [4, 5]
    const std::vector<double> ls = log_softmax_reference(to_doubles(lt), 4, 5);
    check_tensor(log_softmax(lt), {4, 5}, ls, tol, "log_softmax of a transpose");
    const std::vector<int64_t> lab = {1, 4, 0, 2};
    std::vector<double> ce;
    for (int i = 0; i < 4; ++i) ce.push_back(-ls[i * 5 + lab[i]]);
    check_tensor(cross_entropy_per_sample(lt, from_vector<int64_t>(lab, {4})), {4}, ce, tol,
                 "cross_entropy of a transpose");

    // batch norm of a channel-sliced (non-contiguous) input in eval mode
    Tensor rm = zeros({2}, dt), rv = ones({2}, dt);
    const Tensor xc = xb.narrow(1, 0, 2).narrow(3, 0, 3);  // [3, 2, 5, 3]
    const std::vector<double> xcv = to_doubles(xc);
    std::vector<double> eb;
    for (double v : xcv) eb.push_back(v / std::sqrt(1.0 + 1e-5));
    check_tensor(batch_norm(xc, Tensor(), Tensor(), rm, rv, false, 0.1, 1e-5), {3, 2, 5, 3}, eb, tol,
                 "batch_norm eval of a view, no affine");
  }
}

TEST_CASE("core: larger conv2d and wide softmax rows in f32") {
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const Tensor x = random_tensor({2, 16, 12, 12}, 380u, DType::F32);
  const Tensor w = random_tensor({32, 16, 3, 3}, 381u, DType::F32);
  const Tensor b = random_tensor({32}, 382u, DType::F32);
  const std::vector<double> bv = to_doubles(b);
  Shape ys;
  const std::vector<double> expected =
      conv2d_reference(to_doubles(x), {2, 16, 12, 12}, to_doubles(w), {32, 16, 3, 3}, &bv, p, &ys);
  check_tensor(conv2d(x, w, b, p), ys, expected, 1e-4, "conv2d 16->32 channels, 12x12");
  p.stride_h = p.stride_w = 2;
  const std::vector<double> strided =
      conv2d_reference(to_doubles(x), {2, 16, 12, 12}, to_doubles(w), {32, 16, 3, 3}, &bv, p, &ys);
  check_tensor(conv2d(x, w, b, p), ys, strided, 1e-4, "conv2d stride 2, 16->32 channels");

  const Tensor logits = random_tensor({3, 1000}, 383u, DType::F32, -5.0, 5.0);
  const std::vector<double> ls = log_softmax_reference(to_doubles(logits), 3, 1000);
  check_tensor(log_softmax(logits), {3, 1000}, ls, 1e-5, "log_softmax 1000 classes");
}

TEST_CASE("core: cross_entropy on hand-computed values") {
  // Logits ln(1..4): softmax = (0.1, 0.2, 0.3, 0.4). Row 2 is uniform: ln 4 for any label.
  const Tensor logits = from_vector<double>(
      {std::log(1.0), std::log(2.0), std::log(3.0), std::log(4.0), 0.0, 0.0, 0.0, 0.0}, {2, 4});
  const Tensor labels = from_vector<int64_t>({3, 1}, {2});
  const double plain = -std::log(0.4);
  const double smoothed = -(0.05 * (std::log(0.1) + std::log(0.2) + std::log(0.3)) + 0.85 * std::log(0.4));
  check_tensor(cross_entropy_per_sample(logits, labels), {2}, {plain, std::log(4.0)}, 1e-12,
               "hand values, no smoothing");
  check_tensor(cross_entropy_per_sample(logits, labels, 0.2), {2}, {smoothed, std::log(4.0)}, 1e-12,
               "hand values, smoothing 0.2");
  check_close({cross_entropy(logits, labels, 0.2).item()}, {(smoothed + std::log(4.0)) / 2}, 1e-12,
              "hand value of the mean");
  check_tensor(softmax(logits.slice(0, 1)), {1, 4}, {0.1, 0.2, 0.3, 0.4}, 1e-12, "hand softmax");
}
