// Tests of the CPU backend's layout, elementwise, reduction, indexing, random
// and augmentation kernels, called directly through the Backend interface and
// compared with plain double loops written here.
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include <omp.h>

#include "core/philox.h"
#include "tests/cpu_backend_testing.h"

using namespace basin;
using namespace basin::cpu_testing;

namespace {

double reference_binary(BinaryOp op, double x, double y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Max: return x > y ? x : y;
    case BinaryOp::Min: return x < y ? x : y;
    case BinaryOp::ReluGrad: return y > 0 ? x : 0.0;
    case BinaryOp::Ge: return x >= y;
    case BinaryOp::Gt: return x > y;
    case BinaryOp::Lt: return x < y;
    case BinaryOp::Eq: return x == y;
  }
  return 0;
}

const BinaryOp kAllBinary[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div,
                               BinaryOp::Max, BinaryOp::Min, BinaryOp::ReluGrad, BinaryOp::Ge,
                               BinaryOp::Gt, BinaryOp::Lt, BinaryOp::Eq};

// Values of a (possibly strided) tensor read through its own strides, as doubles.
std::vector<double> strided_values(const Tensor& t) {
  Tensor base = make_view(t.impl()->storage, {static_cast<int64_t>(t.impl()->storage->nbytes() /
                                                                   dtype_size(t.dtype()))},
                          {1}, 0, t.dtype());
  const std::vector<double> flat = values_of(base);
  std::vector<double> out;
  std::vector<int64_t> index(t.shape().size(), 0);
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t off = t.offset();
    for (size_t d = 0; d < index.size(); ++d) off += index[d] * t.strides()[d];
    out.push_back(flat[static_cast<size_t>(off)]);
    for (int64_t d = static_cast<int64_t>(index.size()) - 1; d >= 0; --d) {
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("core: philox4x32-10 matches the Random123 known answer") {
  const Philox4 r = philox4x32(0, 0);
  CHECK(r.v[0] == 0x6627e8d5u);
  CHECK(r.v[1] == 0xe169c58du);
  CHECK(r.v[2] == 0xbc57ac4cu);
  CHECK(r.v[3] == 0x9b00dbd8u);
}

TEST_CASE("core: cpu binary ops with stride-0 broadcasting and strided views") {
  for (DType dtype : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(dtype));
    // a: [3, 4, 5] read through a transposed [3, 5, 4] storage; b: a [4] vector
    // broadcast over dims 0 and 2 (strides 0, 1, 0).
    const std::vector<double> av = random_values(60, 1), bv = random_values(4, 2);
    Tensor a_store = make(av, {3, 5, 4}, dtype);
    Tensor a = make_view(a_store.impl()->storage, {3, 4, 5}, {20, 1, 4}, 0, dtype);
    Tensor b_store = make(bv, {4}, dtype);
    Tensor b = make_view(b_store.impl()->storage, {3, 4, 5}, {0, 1, 0}, 0, dtype);
    // the rounded inputs the kernel sees
    const std::vector<double> ar = values_of(a_store), br = values_of(b_store);
    for (BinaryOp op : kAllBinary) {
      CAPTURE(static_cast<int>(op));
      Tensor out = empty({3, 4, 5}, dtype);
      be().binary(op, a, b, out);
      std::vector<double> want;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
          for (int k = 0; k < 5; ++k) {
            want.push_back(reference_binary(op, ar[i * 20 + k * 4 + j], br[j]));
          }
      check_close(values_of(out), want, tol_for(dtype), "binary");
    }
  }
}

TEST_CASE("core: cpu binary contiguous, large broadcast and in-place aliasing") {
  const int64_t rows = 64, cols = 1024;  // large enough for the parallel paths
  const std::vector<double> av = random_values(rows * cols, 3), bv = random_values(cols, 4);
  Tensor a = make(av, {rows, cols});
  Tensor brow = make(bv, {cols});
  Tensor b = make_view(brow.impl()->storage, {rows, cols}, {0, 1}, 0, DType::F64);
  Tensor out = empty({rows, cols}, DType::F64);
  be().binary(BinaryOp::Mul, a, b, out);
  std::vector<double> want(av.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = av[r * cols + c] * bv[c];
  check_close(values_of(out), want, 0.0, "broadcast mul");

  // out aliases a: a = a - c elementwise, both contiguous
  Tensor c = make(random_values(rows * cols, 5), {rows, cols});
  const std::vector<double> cv = values_of(c);
  be().binary(BinaryOp::Sub, a, c, a);
  for (size_t i = 0; i < want.size(); ++i) want[i] = av[i] - cv[i];
  check_close(values_of(a), want, 0.0, "in-place sub");

  // integer compare (accuracy: argmax == labels)
  Tensor p = make({1, 2, 3, 4}, {4}, DType::I64), l = make({1, 0, 3, 0}, {4}, DType::I64);
  Tensor eq = empty({4}, DType::I64);
  be().binary(BinaryOp::Eq, p, l, eq);
  CHECK(values_of(eq) == std::vector<double>{1, 0, 1, 0});
  CHECK_THROWS_AS(be().binary(BinaryOp::Div, p, l, eq), basin::Error);
  Tensor wrong = empty({4}, DType::F32);
  CHECK_THROWS_AS(be().binary(BinaryOp::Add, p, l, wrong), basin::Error);
}

TEST_CASE("core: cpu unary and binary_scalar against std functions") {
  const std::vector<double> v = random_values(50, 6, 0.2, 3.0), s = random_values(50, 7);
  const std::map<UnaryOp, std::function<double(double)>> ref = {
      {UnaryOp::Neg, [](double x) { return -x; }},
      {UnaryOp::Exp, [](double x) { return std::exp(x); }},
      {UnaryOp::Log, [](double x) { return std::log(x); }},
      {UnaryOp::Relu, [](double x) { return x > 0 ? x : 0.0; }},
      {UnaryOp::Sqrt, [](double x) { return std::sqrt(x); }},
      {UnaryOp::Abs, [](double x) { return std::fabs(x); }},
      {UnaryOp::Sign, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }},
      {UnaryOp::Square, [](double x) { return x * x; }},
      {UnaryOp::Reciprocal, [](double x) { return 1.0 / x; }}};
  for (DType dtype : {DType::F64, DType::F32}) {
    for (const auto& entry : ref) {
      // A plain variable, not a structured binding: clang 14 (make sanitize)
      // refuses structured bindings inside doctest's CAPTURE lambda.
      const UnaryOp op = entry.first;
      const auto& f = entry.second;
      CAPTURE(static_cast<int>(op));
      // positive inputs for log/sqrt, signed for the rest
      const std::vector<double>& in =
          (op == UnaryOp::Log || op == UnaryOp::Sqrt) ? v : s;
      Tensor a = make(in, {5, 10}, dtype);
      const std::vector<double> rounded = values_of(a);
      Tensor out = empty({5, 10}, dtype);
      be().unary(op, a, out);
      std::vector<double> want;
      for (double x : rounded) want.push_back(f(x));
      check_close(values_of(out), want, tol_for(dtype), "unary");
    }
    Tensor a = make(s, {50}, dtype);
    const std::vector<double> rounded = values_of(a);
    for (BinaryOp op : kAllBinary) {
      const double scalar = dtype == DType::F32 ? double(0.25f) : 0.25;
      Tensor out = empty({50}, dtype);
      be().binary_scalar(op, a, scalar, out);
      std::vector<double> want;
      for (double x : rounded) want.push_back(reference_binary(op, x, scalar));
      check_close(values_of(out), want, tol_for(dtype), "binary_scalar");
    }
  }
  Tensor ints = make({1, 2}, {2}, DType::I64), out = empty({2}, DType::I64);
  CHECK_THROWS_WITH_AS(be().unary(UnaryOp::Exp, ints, out), doctest::Contains("i64"),
                       basin::Error);
  // kernels other than fill / copy / binary need contiguous operands
  Tensor m = make(random_values(12, 9), {3, 4});
  Tensor mt = make_view(m.impl()->storage, {4, 3}, {1, 4}, 0, DType::F64);
  Tensor mo = empty({4, 3}, DType::F64);
  CHECK_THROWS_WITH_AS(be().unary(UnaryOp::Exp, mt, mo), doctest::Contains("contiguous"),
                       basin::Error);
}

TEST_CASE("core: cpu fill, copy_strided and cast") {
  // strided fill: every other column of a [4, 6] tensor
  Tensor base = make(random_values(24, 8), {4, 6});
  const std::vector<double> before = values_of(base);
  Tensor cols = make_view(base.impl()->storage, {4, 3}, {6, 2}, 1, DType::F64);
  be().fill(cols, 2.5);
  const std::vector<double> after = values_of(base);
  for (int i = 0; i < 24; ++i) CHECK(after[i] == (i % 2 == 1 ? 2.5 : before[i]));

  // transposed view -> contiguous, every dtype (bits move unchanged)
  for (DType dtype : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
    CAPTURE(dtype_name(dtype));
    std::vector<double> vals;
    for (int i = 0; i < 35; ++i) vals.push_back(double((i * 37) % 101 + 1));
    Tensor src = make(vals, {5, 7}, dtype);
    Tensor t = make_view(src.impl()->storage, {7, 5}, {1, 7}, 0, dtype);
    Tensor dst = empty({7, 5}, dtype);
    be().copy_strided(t, dst);
    std::vector<double> want;
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 5; ++j) want.push_back(vals[j * 7 + i]);
    CHECK(values_of(dst) == want);
  }
  // contiguous -> strided dst (offset 1, stride 2), then read back
  Tensor wide = make(std::vector<double>(13, -1.0), {13});
  Tensor holes = make_view(wide.impl()->storage, {6}, {2}, 1, DType::F64);
  Tensor six = make({1, 2, 3, 4, 5, 6}, {6});
  be().copy_strided(six, holes);
  CHECK(strided_values(holes) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(values_of(wide)[0] == -1.0);
  CHECK(values_of(wide)[2] == -1.0);

  // casts: float -> int truncates toward zero, f64 -> f32 rounds to nearest
  Tensor f = make({-2.7, -0.5, 0.5, 2.7, 300.9}, {5});
  Tensor i32 = empty({5}, DType::I32), i64 = empty({5}, DType::I64);
  be().cast(f, i32);
  be().cast(f, i64);
  CHECK(i32.data<int32_t>()[0] == -2);
  CHECK(i32.data<int32_t>()[1] == 0);
  CHECK(i32.data<int32_t>()[3] == 2);
  CHECK(i64.data<int64_t>()[4] == 300);
  Tensor small = make({2.7, 255.9, 0.2}, {3});
  Tensor u8 = empty({3}, DType::U8);
  be().cast(small, u8);
  CHECK(u8.data<uint8_t>()[0] == 2);
  CHECK(u8.data<uint8_t>()[1] == 255);
  CHECK(u8.data<uint8_t>()[2] == 0);
  Tensor f32 = empty({5}, DType::F32);
  be().cast(f, f32);
  CHECK(f32.data<float>()[0] == -2.7f);
  CHECK(f32.data<float>()[4] == 300.9f);
  Tensor back = empty({3}, DType::F64);
  be().cast(u8, back);
  CHECK(back.data<double>()[1] == 255.0);
  Tensor short_dst = empty({4}, DType::F32);
  CHECK_THROWS_AS(be().cast(f, short_dst), basin::Error);
}

TEST_CASE("core: cpu sum_dim and max_dim over [outer, n, inner]") {
  const int64_t shapes[][3] = {{1, 100000, 1}, {3, 7, 5}, {5, 1, 9}, {2, 40000, 1},
                               {7, 3, 1},      {1, 5, 1000}, {40, 30, 40}};
  uint32_t seed = 10;
  for (DType dtype : {DType::F64, DType::F32}) {
    for (const auto& s : shapes) {
      const int64_t outer = s[0], n = s[1], inner = s[2];
      CAPTURE(outer);
      CAPTURE(n);
      CAPTURE(inner);
      Tensor a = make(random_values(outer * n * inner, seed++), {outer * n * inner}, dtype);
      const std::vector<double> v = values_of(a);
      Tensor sum = empty({outer * inner}, dtype), mx = empty({outer * inner}, dtype);
      be().sum_dim(a, outer, n, inner, sum);
      be().max_dim(a, outer, n, inner, mx);
      std::vector<double> want_sum(outer * inner, 0.0), want_max(outer * inner, -1e300);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < inner; ++i) {
            const double x = v[(o * n + k) * inner + i];
            want_sum[o * inner + i] += x;
            want_max[o * inner + i] = std::max(want_max[o * inner + i], x);
          }
      check_close(values_of(sum), want_sum, dtype == DType::F32 ? 1e-6 : 1e-12, "sum_dim");
      check_close(values_of(mx), want_max, 0.0, "max_dim");
    }
  }
  Tensor a = make(random_values(6, 1), {6}), out = empty({4}, DType::F64);
  CHECK_THROWS_AS(be().sum_dim(a, 2, 3, 1, out), basin::Error);
}

TEST_CASE("core: cpu argmax, topk with ties, dot") {
  Tensor a = make({1, 5, 5, 2, 3, 3, -1, 7, 0, 0, 0, 0}, {3, 4});
  Tensor am = empty({3}, DType::I64);
  be().argmax_rows(a, am);
  CHECK(values_of(am) == std::vector<double>{1, 3, 0});
  Tensor vals = empty({3, 3}, DType::F64), idx = empty({3, 3}, DType::I64);
  be().topk_rows(a, 3, vals, idx);
  CHECK(values_of(vals) == std::vector<double>{5, 5, 2, 7, 3, 3, 0, 0, 0});
  CHECK(values_of(idx) == std::vector<double>{1, 2, 3, 3, 0, 1, 0, 1, 2});
  Tensor v4 = empty({3, 5}, DType::F64), i4 = empty({3, 5}, DType::I64);
  CHECK_THROWS_AS(be().topk_rows(a, 5, v4, i4), basin::Error);

  // topk against a full sort on random rows
  Tensor r = make(random_values(20 * 50, 11), {20, 50}, DType::F32);
  const std::vector<double> rv = values_of(r);
  Tensor tv = empty({20, 7}, DType::F32), ti = empty({20, 7}, DType::I64);
  be().topk_rows(r, 7, tv, ti);
  const std::vector<double> gv = values_of(tv), gi = values_of(ti);
  for (int row = 0; row < 20; ++row) {
    std::vector<std::pair<double, int>> sorted;
    for (int c = 0; c < 50; ++c) sorted.push_back({-rv[row * 50 + c], c});
    std::sort(sorted.begin(), sorted.end());
    for (int j = 0; j < 7; ++j) {
      CHECK(gi[row * 7 + j] == sorted[j].second);
      CHECK(gv[row * 7 + j] == -sorted[j].first);
    }
  }

  for (DType dtype : {DType::F64, DType::F32}) {
    const int64_t n = 100003;
    Tensor x = make(random_values(n, 12), {n}, dtype), y = make(random_values(n, 13), {n}, dtype);
    const std::vector<double> xv = values_of(x), yv = values_of(y);
    double want = 0;
    for (int64_t i = 0; i < n; ++i) want += xv[i] * yv[i];
    Tensor out = empty({1}, dtype);
    be().dot(x, y, out);
    check_close(values_of(out), {want}, dtype == DType::F32 ? 1e-6 : 1e-11, "dot");
  }
}

TEST_CASE("core: cpu index_select_rows and index_add_rows with repeated indices") {
  Tensor idx = make({2, 0, 2, 3, 2}, {5}, DType::I64);
  for (DType dtype : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
    CAPTURE(dtype_name(dtype));
    std::vector<double> vals;
    for (int i = 0; i < 12; ++i) vals.push_back(i + 1);
    Tensor a = make(vals, {4, 3}, dtype);
    Tensor out = empty({5, 3}, dtype);
    be().index_select_rows(a, idx, out);
    CHECK(values_of(out) == std::vector<double>{7, 8, 9, 1, 2, 3, 7, 8, 9, 10, 11, 12, 7, 8, 9});
  }
  for (DType dtype : {DType::F64, DType::F32}) {
    const int64_t cols = 200;  // spans several column blocks
    const std::vector<double> sv = random_values(5 * cols, 14), ov = random_values(4 * cols, 15);
    Tensor src = make(sv, {5, cols}, dtype), out = make(ov, {4, cols}, dtype);
    const std::vector<double> s = values_of(src);
    std::vector<double> want = values_of(out);
    const int64_t rows[] = {2, 0, 2, 3, 2};
    for (int i = 0; i < 5; ++i)
      for (int64_t c = 0; c < cols; ++c) want[rows[i] * cols + c] += s[i * cols + c];
    be().index_add_rows(src, idx, out);
    check_close(values_of(out), want, tol_for(dtype), "index_add_rows");
  }
  Tensor bad = make({1, 4}, {2}, DType::I64);
  Tensor a = make(random_values(12, 16), {4, 3}), out = empty({2, 3}, DType::F64);
  CHECK_THROWS_WITH_AS(be().index_select_rows(a, bad, out), doctest::Contains("index 4"),
                       basin::Error);
  Tensor neg = make({-1, 0}, {2}, DType::I64);
  Tensor src = make(random_values(6, 17), {2, 3});
  const std::vector<double> untouched = values_of(a);
  CHECK_THROWS_WITH_AS(be().index_add_rows(src, neg, a), doctest::Contains("index -1"),
                       basin::Error);
  CHECK(values_of(a) == untouched);
}

TEST_CASE("core: cpu uniform and normal fills follow the philox formulas") {
  const int64_t n = 100000;
  for (DType dtype : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(dtype));
    Tensor u1 = empty({n}, dtype), u2 = empty({n}, dtype), u3 = empty({n}, dtype);
    be().fill_uniform(u1, 42, 1000, -2.0, 3.0);
    be().fill_uniform(u2, 42, 1000, -2.0, 3.0);
    be().fill_uniform(u3, 42, 1010, -2.0, 3.0);  // overlapping stream shifted by 10
    CHECK(std::memcmp(u1.raw_data(), u2.raw_data(), n * dtype_size(dtype)) == 0);
    const std::vector<double> a = values_of(u1), c = values_of(u3);
    for (int64_t i = 0; i + 10 < n; i += 997) CHECK(c[i] == a[i + 10]);
    CHECK(a[0] != c[0]);
    double mean = 0, var = 0, lo = 1e9, hi = -1e9;
    for (double v : a) { mean += v; lo = std::min(lo, v); hi = std::max(hi, v); }
    mean /= n;
    for (double v : a) var += (v - mean) * (v - mean);
    var /= n;
    // U(-2, 3): mean 0.5, var 25/12; sd of the mean ~ 0.0046
    CHECK(std::fabs(mean - 0.5) < 0.03);
    CHECK(std::fabs(var - 25.0 / 12.0) < 0.05);
    CHECK(lo >= -2.0);
    CHECK(hi <= 3.0);
    // the kernel's scale-and-shift is one fma (rounds the same on every target)
    const double expect0 = std::fma(5.0, philox_uniform_at(42, 1000), -2.0);
    CHECK(a[0] == (dtype == DType::F32 ? double(float(expect0)) : expect0));

    Tensor g1 = empty({n}, dtype), g2 = empty({n}, dtype), g3 = empty({n}, dtype);
    be().fill_normal(g1, 7, 0, 1.5, 2.0);
    be().fill_normal(g2, 7, 0, 1.5, 2.0);
    be().fill_normal(g3, 8, 0, 1.5, 2.0);  // another seed, another stream
    CHECK(std::memcmp(g1.raw_data(), g2.raw_data(), n * dtype_size(dtype)) == 0);
    const std::vector<double> g = values_of(g1), h = values_of(g3);
    CHECK(g[5] != h[5]);
    mean = 0;
    var = 0;
    for (double v : g) mean += v;
    mean /= n;
    for (double v : g) var += (v - mean) * (v - mean);
    var /= n;
    CHECK(std::fabs(mean - 1.5) < 0.03);
    CHECK(std::fabs(var - 4.0) < 0.1);
    for (int64_t i : {0, 1, 777, 99999}) {
      const Philox4 r = philox4x32(7, i);
      const double ua = philox_uniform_f64(r.v[0], r.v[1]), ub = philox_uniform_f64(r.v[2], r.v[3]);
      const double want = 1.5 + 2.0 * std::sqrt(-2.0 * std::log(1.0 - ua)) *
                                    std::cos(2.0 * 3.14159265358979323846 * ub);
      CHECK(std::fabs(g[i] - (dtype == DType::F32 ? double(float(want)) : want)) <=
            1e-12 * std::max(1.0, std::fabs(want)));
    }
  }
  Tensor ints = empty({3}, DType::I32);
  CHECK_THROWS_AS(be().fill_uniform(ints, 1, 0, 0, 1), basin::Error);
}

TEST_CASE("core: cpu reductions give the same bits for any thread count") {
  const int64_t n = 300000;
  Tensor a = make(random_values(n, 70), {n}, DType::F32), b = make(random_values(n, 71), {n}, DType::F32);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Tensor dot = empty({1}, DType::F32), total = empty({1}, DType::F32), cols = empty({3000}, DType::F32);
    be().dot(a, b, dot);
    be().sum_dim(a, 1, n, 1, total);
    be().sum_dim(a, 1, 100, 3000, cols);
    std::vector<double> all = values_of(dot);
    all.push_back(values_of(total)[0]);
    for (double v : values_of(cols)) all.push_back(v);
    return all;
  };
  const int saved = omp_get_max_threads();
  const std::vector<double> one = run(1), three = run(3);
  omp_set_num_threads(saved);
  CHECK(one == three);
}

TEST_CASE("core: cpu NaN propagates through relu, max and max_dim") {
  const double nan = std::nan("");
  Tensor a = make({1.0, nan, -2.0, 3.0}, {4});
  Tensor r = empty({4}, DType::F64);
  be().unary(UnaryOp::Relu, a, r);
  const std::vector<double> rv = values_of(r);
  CHECK(rv[0] == 1.0);
  CHECK(std::isnan(rv[1]));
  CHECK(rv[2] == 0.0);
  Tensor m = empty({1}, DType::F64);
  be().max_dim(a, 1, 4, 1, m);
  CHECK(std::isnan(values_of(m)[0]));
  Tensor b = make({nan, 0.0, 5.0, nan}, {4}), mx = empty({4}, DType::F64);
  be().binary(BinaryOp::Max, a, b, mx);
  const std::vector<double> mv = values_of(mx);
  CHECK(std::isnan(mv[0]));
  CHECK(std::isnan(mv[1]));
  CHECK(mv[2] == 5.0);
  CHECK(std::isnan(mv[3]));
}
