// Forward values of the elementwise, reduction, linear-algebra and indexing
// ops against plain double loops, in f32 and f64, on random non-zero inputs.
// (Convolution, pooling, normalisation, softmax and losses: core_ops_nn_forward.cpp.)
#include <doctest/doctest.h>

#include <functional>
#include <set>

#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

const DType kFloatTypes[] = {DType::F32, DType::F64};

// Numpy broadcasting written out: align shapes on the right, size-1 dims repeat.
std::vector<double> broadcast_reference(const std::vector<double>& a, const Shape& as,
                                        const std::vector<double>& b, const Shape& bs,
                                        const std::function<double(double, double)>& op,
                                        Shape* out_shape) {
  const size_t rank = std::max(as.size(), bs.size());
  Shape out(rank), ap(rank, 1), bp(rank, 1);
  for (size_t i = 0; i < as.size(); ++i) ap[rank - as.size() + i] = as[i];
  for (size_t i = 0; i < bs.size(); ++i) bp[rank - bs.size() + i] = bs[i];
  for (size_t d = 0; d < rank; ++d) out[d] = std::max(ap[d], bp[d]);
  std::vector<double> result;
  for (int64_t o = 0; o < numel_of(out); ++o) {
    const std::vector<int64_t> idx = unravel(o, out);
    std::vector<int64_t> ai(rank), bi(rank);
    for (size_t d = 0; d < rank; ++d) {
      ai[d] = ap[d] == 1 ? 0 : idx[d];
      bi[d] = bp[d] == 1 ? 0 : idx[d];
    }
    result.push_back(op(a[ravel(ai, ap)], b[ravel(bi, bp)]));
  }
  *out_shape = out;
  return result;
}

// Sum over `dims` of x, returning the kept-dims shape (size 1 where reduced).
std::vector<double> sum_reference(const std::vector<double>& x, const Shape& shape,
                                  const std::vector<int64_t>& dims, Shape* kept_shape) {
  Shape kept = shape;
  for (int64_t d : dims) kept[d] = 1;
  std::vector<double> out(numel_of(kept), 0.0);
  for (int64_t i = 0; i < numel_of(shape); ++i) {
    std::vector<int64_t> idx = unravel(i, shape);
    for (int64_t d : dims) idx[d] = 0;
    out[ravel(idx, kept)] += x[i];
  }
  *kept_shape = kept;
  return out;
}

Shape drop_dims(const Shape& kept, const std::vector<int64_t>& dims) {
  Shape out;
  for (size_t d = 0; d < kept.size(); ++d)
    if (std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) == dims.end())
      out.push_back(kept[d]);
  return out;
}

}  // namespace

TEST_CASE("core: broadcasting add, sub, mul, div") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{2, 3}, {2, 3}},
      {{4}, {2, 3, 4}},    {{2, 3}, {}},           {{3, 1}, {1, 5}}};
  using Op = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::tuple<const char*, Op, std::function<double(double, double)>>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
       [](double a, double b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
       [](double a, double b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
       [](double a, double b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); },
       [](double a, double b) { return a / b; }}};
  for (DType dt : kFloatTypes) {
    uint32_t seed = 100;
    for (const auto& [as, bs] : cases) {
      const Tensor a = random_tensor(as, seed++, dt), b = random_tensor(bs, seed++, dt);
      const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
      for (const auto& [name, op, ref] : ops) {
        Shape out_shape;
        const std::vector<double> expected = broadcast_reference(av, as, bv, bs, ref, &out_shape);
        const std::string what = cat(name, " ", dtype_name(dt), " ", shape_str(as), " x ", shape_str(bs));
        const Tensor got = op(a, b);
        CHECK(got.dtype() == dt);
        check_tensor(got, out_shape, expected, tolerance(dt), what);
        // Swapped operands broadcast the same way.
        Shape swapped_shape;
        const std::vector<double> swapped = broadcast_reference(bv, bs, av, as, ref, &swapped_shape);
        check_tensor(op(b, a), swapped_shape, swapped, tolerance(dt), what + " (swapped)");
      }
    }
  }
  CHECK(broadcast_shape({2, 1, 4}, {1, 3, 1}) == Shape{2, 3, 4});
  CHECK(broadcast_shape({5}, {2, 1}) == Shape{2, 5});
}

TEST_CASE("core: operators and strided operands") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({3, 4}, 120u, dt), b = random_tensor({4, 3}, 121u, dt);
    const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
    std::vector<double> expected;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) expected.push_back(av[i * 4 + j] * bv[j * 3 + i] - av[i * 4 + j]);
    check_tensor(a * b.t() - a, {3, 4}, expected, tolerance(dt), "a * b.t() - a");
    std::vector<double> e2;
    for (int i = 0; i < 3; ++i)
      for (int j = 1; j < 3; ++j) e2.push_back(-(av[i * 4 + j] / bv[j * 3 + i]));
    check_tensor(-(a.narrow(1, 1, 2) / b.t().narrow(1, 1, 2)), {3, 2}, e2, tolerance(dt),
                 "-(narrow / narrow of transpose)");
  }
}

TEST_CASE("core: scalar add and mul") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({2, 5}, 130u, dt);
    const std::vector<double> av = to_doubles(a);
    std::vector<double> e_add, e_mul;
    for (double v : av) {
      e_add.push_back(v + 0.75);
      e_mul.push_back(v * -1.5);
    }
    check_tensor(add(a, 0.75), {2, 5}, e_add, tolerance(dt), "add scalar");
    check_tensor(a + 0.75, {2, 5}, e_add, tolerance(dt), "operator+ scalar");
    check_tensor(mul(a, -1.5), {2, 5}, e_mul, tolerance(dt), "mul scalar");
    check_tensor(a * -1.5, {2, 5}, e_mul, tolerance(dt), "operator* scalar");
  }
}

TEST_CASE("core: unary ops") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({3, 7}, 140u, dt, -2.0, 2.0);
    const Tensor p = random_tensor({3, 7}, 141u, dt, 0.5, 2.0);
    const std::vector<double> av = to_doubles(a), pv = to_doubles(p);
    auto map = [](const std::vector<double>& v, double (*f)(double)) {
      std::vector<double> out;
      for (double x : v) out.push_back(f(x));
      return out;
    };
    const double tol = tolerance(dt);
    check_tensor(neg(a), {3, 7}, map(av, [](double x) { return -x; }), tol, "neg");
    check_tensor(exp(a), {3, 7}, map(av, [](double x) { return std::exp(x); }), tol, "exp");
    check_tensor(log(p), {3, 7}, map(pv, [](double x) { return std::log(x); }), tol, "log");
    check_tensor(sqrt(p), {3, 7}, map(pv, [](double x) { return std::sqrt(x); }), tol, "sqrt");
    check_tensor(square(a), {3, 7}, map(av, [](double x) { return x * x; }), tol, "square");
    check_tensor(relu(a), {3, 7}, map(av, [](double x) { return x > 0 ? x : 0.0; }), tol, "relu");
    check_tensor(exp(a.t()), {7, 3}, [&] {
      std::vector<double> e;
      for (int j = 0; j < 7; ++j)
        for (int i = 0; i < 3; ++i) e.push_back(std::exp(av[i * 7 + j]));
      return e;
    }(), tol, "exp of a transpose");
  }
}

TEST_CASE("core: compare") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({2, 6}, 150u, dt);
    std::vector<double> av = to_doubles(a), bv = to_doubles(random_tensor({2, 6}, 151u));
    for (int i = 0; i < 12; i += 3) bv[i] = av[i];  // some exact ties
    const Tensor b = from_vector<double>(bv, {2, 6}).to(dt);
    bv = to_doubles(b);
    const std::vector<std::pair<BinaryOp, std::function<bool(double, double)>>> ops = {
        {BinaryOp::Ge, [](double x, double y) { return x >= y; }},
        {BinaryOp::Gt, [](double x, double y) { return x > y; }},
        {BinaryOp::Lt, [](double x, double y) { return x < y; }},
        {BinaryOp::Eq, [](double x, double y) { return x == y; }}};
    int k = 0;
    for (const auto& [op, ref] : ops) {
      std::vector<double> expected, expected_scalar;
      for (int i = 0; i < 12; ++i) {
        expected.push_back(ref(av[i], bv[i]) ? 1.0 : 0.0);
        expected_scalar.push_back(ref(av[i], av[3]) ? 1.0 : 0.0);
      }
      const Tensor got = compare(op, a, b);
      CHECK(got.dtype() == dt);
      check_tensor(got, {2, 6}, expected, 0, cat("compare op ", k));
      check_tensor(compare(op, a, av[3]), {2, 6}, expected_scalar, 0, cat("compare scalar op ", k));
      ++k;
    }
  }
}

TEST_CASE("core: sum and mean, all and over dims") {
  const Shape shape{2, 3, 4};
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (DType dt : kFloatTypes) {
    const Tensor x = random_tensor(shape, 160u, dt);
    const std::vector<double> xv = to_doubles(x);
    double total = 0;
    for (double v : xv) total += v;
    const Tensor s = sum(x);
    CHECK(s.numel() == 1);
    CHECK(s.dim() == 0);
    CHECK(s.dtype() == dt);
    check_close({s.item()}, {total}, tolerance(dt), "sum all");
    check_close({mean(x).item()}, {total / 24}, tolerance(dt), "mean all");
    for (const auto& dims : dim_sets) {
      Shape kept;
      const std::vector<double> sums = sum_reference(xv, shape, dims, &kept);
      int64_t count = 1;
      for (int64_t d : dims) count *= shape[d];
      std::vector<double> means;
      for (double v : sums) means.push_back(v / count);
      const std::string what = cat(dtype_name(dt), " dims of size ", dims.size(), " first ", dims[0]);
      check_tensor(sum(x, dims, true), kept, sums, tolerance(dt), "sum keepdim " + what);
      check_tensor(sum(x, dims, false), drop_dims(kept, dims), sums, tolerance(dt), "sum " + what);
      check_tensor(mean(x, dims, true), kept, means, tolerance(dt), "mean keepdim " + what);
      check_tensor(mean(x, dims, false), drop_dims(kept, dims), means, tolerance(dt), "mean " + what);
    }
    // A strided input reduces in logical order.
    Shape kept;
    const Tensor xt = x.transpose(0, 2);  // [4, 3, 2]
    const std::vector<double> xtv = to_doubles(xt);
    check_tensor(sum(xt, {1}), {4, 2}, sum_reference(xtv, {4, 3, 2}, {1}, &kept), tolerance(dt),
                 "sum over dim 1 of a transpose");
  }
}

TEST_CASE("core: max over a dim, argmax, topk") {
  for (DType dt : kFloatTypes) {
    const Shape shape{3, 4, 2};
    const Tensor x = random_tensor(shape, 170u, dt);
    const std::vector<double> xv = to_doubles(x);
    for (int64_t dim = 0; dim < 3; ++dim) {
      Shape kept = shape;
      kept[dim] = 1;
      std::vector<double> expected(numel_of(kept), -1e300);
      for (int64_t i = 0; i < 24; ++i) {
        std::vector<int64_t> idx = unravel(i, shape);
        idx[dim] = 0;
        double& slot = expected[ravel(idx, kept)];
        slot = std::max(slot, xv[i]);
      }
      check_tensor(max(x, dim, true), kept, expected, 0, cat("max keepdim dim ", dim));
      check_tensor(max(x, dim, false), drop_dims(kept, {dim}), expected, 0, cat("max dim ", dim));
    }

    // Rows with ties: argmax takes the first, topk orders ties by lower index.
    const std::vector<double> rows = {0.5, -1.0, 2.0, 2.0, 0.1, -0.3,
                                      -2.0, -0.7, -0.7, -3.0, -0.7, -1.5,
                                      1.25, 0.25, 0.75, 0.5, 1.0, 1.25};
    const Tensor m = from_vector<double>(rows, {3, 6}).to(dt);
    const Tensor am = argmax(m);
    CHECK(am.dtype() == DType::I64);
    CHECK(am.to_vector<int64_t>() == std::vector<int64_t>{2, 1, 0});
    const TopK top = topk(m, 3);
    CHECK(top.indices.dtype() == DType::I64);
    CHECK(top.values.dtype() == dt);
    CHECK(top.indices.shape() == Shape{3, 3});
    CHECK(top.indices.to_vector<int64_t>() == std::vector<int64_t>{2, 3, 0, 1, 2, 4, 0, 5, 4});
    const std::vector<double> mv = to_doubles(m);
    check_tensor(top.values, {3, 3}, {mv[2], mv[3], mv[0], mv[7], mv[8], mv[10], mv[12], mv[17], mv[16]},
                 0, "topk values");

    // Random rows: topk against a sort of (value desc, index asc).
    const Tensor r = random_tensor({4, 9}, 171u, dt);
    const std::vector<double> rv = to_doubles(r);
    const TopK tr = topk(r, 4);
    std::vector<int64_t> e_idx, e_am;
    std::vector<double> e_val;
    for (int i = 0; i < 4; ++i) {
      std::vector<int64_t> order(9);
      for (int j = 0; j < 9; ++j) order[j] = j;
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t p, int64_t q) { return rv[i * 9 + p] > rv[i * 9 + q]; });
      for (int j = 0; j < 4; ++j) {
        e_idx.push_back(order[j]);
        e_val.push_back(rv[i * 9 + order[j]]);
      }
      e_am.push_back(order[0]);
    }
    CHECK(tr.indices.to_vector<int64_t>() == e_idx);
    check_tensor(tr.values, {4, 4}, e_val, 0, "topk random values");
    CHECK(argmax(r, 1).to_vector<int64_t>() == e_am);
  }
}

TEST_CASE("core: dot_value") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({5, 7}, 180u, dt), b = random_tensor({5, 7}, 181u, dt);
    const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
    double expected = 0;
    for (size_t i = 0; i < av.size(); ++i) expected += av[i] * bv[i];
    check_close({dot_value(a, b)}, {expected}, tolerance(dt), "dot_value");
  }
}

TEST_CASE("core: matmul 2-D, batched and broadcast") {
  auto reference = [](const std::vector<double>& a, const std::vector<double>& b, int64_t batch,
                      int64_t M, int64_t K, int64_t N, bool b_shared) {
    std::vector<double> c(batch * M * N, 0.0);
    for (int64_t p = 0; p < batch; ++p)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += a[(p * M + i) * K + k] * b[((b_shared ? 0 : p) * K + k) * N + j];
          c[(p * M + i) * N + j] = acc;
        }
    return c;
  };
  for (DType dt : kFloatTypes) {
    const double tol = dt == DType::F32 ? 2e-5 : 1e-12;
    const Tensor a = random_tensor({3, 5}, 190u, dt), b = random_tensor({5, 4}, 191u, dt);
    check_tensor(matmul(a, b), {3, 4}, reference(to_doubles(a), to_doubles(b), 1, 3, 5, 4, true),
                 tol, "matmul 2-D");
    const Tensor bt = random_tensor({4, 5}, 192u, dt);
    check_tensor(matmul(a, bt.t()), {3, 4},
                 reference(to_doubles(a), to_doubles(bt.t()), 1, 3, 5, 4, true), tol,
                 "matmul with a transposed operand");
    const Tensor ba = random_tensor({2, 3, 5}, 193u, dt), bb = random_tensor({2, 5, 4}, 194u, dt);
    check_tensor(matmul(ba, bb), {2, 3, 4},
                 reference(to_doubles(ba), to_doubles(bb), 2, 3, 5, 4, false), tol, "matmul batched");
    check_tensor(matmul(ba, b), {2, 3, 4}, reference(to_doubles(ba), to_doubles(b), 2, 3, 5, 4, true),
                 tol, "matmul [B,M,K]x[K,N]");
    const Tensor big_a = random_tensor({17, 33}, 195u, dt), big_b = random_tensor({33, 19}, 196u, dt);
    check_tensor(matmul(big_a, big_b), {17, 19},
                 reference(to_doubles(big_a), to_doubles(big_b), 1, 17, 33, 19, true),
                 dt == DType::F32 ? 5e-5 : 1e-12, "matmul 17x33x19");
  }
}

TEST_CASE("core: linear with and without bias") {
  for (DType dt : kFloatTypes) {
    const double tol = dt == DType::F32 ? 2e-5 : 1e-12;
    const Tensor x = random_tensor({4, 6}, 200u, dt), w = random_tensor({3, 6}, 201u, dt),
                 bias = random_tensor({3}, 202u, dt);
    const std::vector<double> xv = to_doubles(x), wv = to_doubles(w), bv = to_doubles(bias);
    std::vector<double> with_bias, without;
    for (int n = 0; n < 4; ++n)
      for (int o = 0; o < 3; ++o) {
        double acc = 0;
        for (int i = 0; i < 6; ++i) acc += xv[n * 6 + i] * wv[o * 6 + i];
        without.push_back(acc);
        with_bias.push_back(acc + bv[o]);
      }
    check_tensor(linear(x, w, bias), {4, 3}, with_bias, tol, "linear with bias");
    check_tensor(linear(x, w, Tensor()), {4, 3}, without, tol, "linear without bias");
  }
}

TEST_CASE("core: index_select with repeated indices, any dtype") {
  const Tensor idx = from_vector<int64_t>({4, 0, 4, 2, 1}, {5});
  const std::vector<int64_t> iv = {4, 0, 4, 2, 1};
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({5, 2, 3}, 210u, dt);
    const std::vector<double> av = to_doubles(a);
    std::vector<double> expected;
    for (int64_t r : iv)
      for (int j = 0; j < 6; ++j) expected.push_back(av[r * 6 + j]);
    check_tensor(index_select(a, idx), {5, 2, 3}, expected, 0, cat("index_select ", dtype_name(dt)));
  }
  const Tensor u = from_vector<uint8_t>({10, 11, 20, 21, 30, 31, 40, 41, 50, 51}, {5, 2});
  const Tensor su = index_select(u, idx);
  CHECK(su.dtype() == DType::U8);
  CHECK(su.shape() == Shape{5, 2});
  CHECK(su.to_vector<uint8_t>() == std::vector<uint8_t>{50, 51, 10, 11, 50, 51, 30, 31, 20, 21});
  const Tensor labels = from_vector<int64_t>({7, 8, 9, 10, 11}, {5});
  CHECK(index_select(labels, idx).to_vector<int64_t>() == std::vector<int64_t>{11, 7, 11, 9, 8});
  const Tensor i32 = from_vector<int32_t>({-1, -2, -3, -4, -5}, {5});
  CHECK(index_select(i32, idx).to_vector<int32_t>() == std::vector<int32_t>{-5, -1, -5, -3, -2});
}

TEST_CASE("core: concat on dims 0 and 1") {
  for (DType dt : kFloatTypes) {
    const Tensor a = random_tensor({2, 3}, 220u, dt), b = random_tensor({1, 3}, 221u, dt),
                 c = random_tensor({2, 2}, 222u, dt), d = random_tensor({3, 3}, 223u, dt);
    const std::vector<double> av = to_doubles(a), bv = to_doubles(b), cv = to_doubles(c),
                              dv = to_doubles(d);
    std::vector<double> rows = av;
    rows.insert(rows.end(), bv.begin(), bv.end());
    rows.insert(rows.end(), dv.begin(), dv.end());
    check_tensor(concat({a, b, d}, 0), {6, 3}, rows, 0, "concat dim 0");
    std::vector<double> cols;
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) cols.push_back(av[i * 3 + j]);
      for (int j = 0; j < 2; ++j) cols.push_back(cv[i * 2 + j]);
    }
    check_tensor(concat({a, c}, 1), {2, 5}, cols, 0, "concat dim 1");
    // Strided parts are read in logical order.
    std::vector<double> tcols;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 2; ++j) tcols.push_back(av[j * 3 + i]);
      for (int j = 0; j < 3; ++j) tcols.push_back(dv[i * 3 + j]);
    }
    check_tensor(concat({a.t(), d}, 1), {3, 5}, tcols, 0, "concat of a transpose");
  }
}

TEST_CASE("core: sum_to_shape undoes broadcasting") {
  for (DType dt : kFloatTypes) {
    const Shape gs{2, 3, 4};
    const Tensor g = random_tensor(gs, 230u, dt);
    const std::vector<double> gv = to_doubles(g);
    // Target shapes and which dims of the [2, 3, 4] gradient each one sums over.
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{3, 1}, {0, 2}}, {{2, 1, 4}, {1}}, {{4}, {0, 1}}, {{1, 3, 1}, {0, 2}}, {{}, {0, 1, 2}},
        {{2, 3, 4}, {}}};
    for (const auto& [target, dims] : cases) {
      Shape kept;
      const std::vector<double> expected = sum_reference(gv, gs, dims, &kept);
      check_tensor(sum_to_shape(g, target), target, expected, tolerance(dt),
                   cat("sum_to_shape to ", shape_str(target), " ", dtype_name(dt)));
    }
  }
}

TEST_CASE("core: compare broadcasts like arithmetic") {
  const Tensor a = random_tensor({2, 3}, 240u), b = random_tensor({3}, 241u);
  const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) expected.push_back(av[i * 3 + j] > bv[j] ? 1.0 : 0.0);
  check_tensor(compare(BinaryOp::Gt, a, b), {2, 3}, expected, 0, "compare Gt [2, 3] x [3]");
}

TEST_CASE("core: front-end checks") {
  const Tensor f = zeros({2}), d = zeros({2}, DType::F64), i = zeros({2}, DType::I64);
  CHECK_NOTHROW(check_same_dtype(f, f, "test_op"));
  CHECK_NOTHROW(check_same_device(f, d, "test_op"));
  CHECK_NOTHROW(check_floating(d, "test_op"));
  CHECK_THROWS_AS(check_same_dtype(f, d, "test_op"), Error);
  CHECK_THROWS_AS(check_floating(i, "test_op"), Error);
  CHECK(contains(error_message([&] { check_floating(i, "test_op"); }), "test_op"));
}

TEST_CASE("core: ops read strided and offset operands in logical order") {
  for (DType dt : kFloatTypes) {
    const double tol = dt == DType::F32 ? 2e-5 : 1e-12;
    // matmul of a row slice (non-zero offset) by a transposed matrix
    const Tensor base = random_tensor({6, 5}, 250u, dt), bt = random_tensor({4, 5}, 251u, dt);
    const Tensor a = base.slice(2, 5);  // [3, 5] at offset 10
    const std::vector<double> av = to_doubles(a), btv = to_doubles(bt);
    std::vector<double> expected;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        double acc = 0;
        for (int k = 0; k < 5; ++k) acc += av[i * 5 + k] * btv[j * 5 + k];
        expected.push_back(acc);
      }
    check_tensor(matmul(a, bt.t()), {3, 4}, expected, tol, "matmul slice x transpose");
    check_tensor(linear(a, bt, Tensor()), {3, 4}, expected, tol, "linear of a slice");
    // batched matmul with a transposed batch operand
    const Tensor ba = random_tensor({2, 3, 4}, 252u, dt), bb = random_tensor({2, 2, 4}, 253u, dt);
    const std::vector<double> bav = to_doubles(ba), bbv = to_doubles(bb);
    std::vector<double> eb;
    for (int p = 0; p < 2; ++p)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) {
          double acc = 0;
          for (int k = 0; k < 4; ++k) acc += bav[(p * 3 + i) * 4 + k] * bbv[(p * 2 + j) * 4 + k];
          eb.push_back(acc);
        }
    check_tensor(matmul(ba, bb.transpose(1, 2)), {2, 3, 2}, eb, tol, "batched matmul with transpose");
    // reductions, index_select and max over views
    Shape kept;
    check_tensor(sum(a, {0}), {5}, sum_reference(av, {3, 5}, {0}, &kept), tol, "sum of a slice");
    const Tensor idx = from_vector<int64_t>({2, 0}, {2});
    std::vector<double> ei;
    for (int64_t r : {2, 0})
      for (int k = 0; k < 5; ++k) ei.push_back(av[r * 5 + k]);
    check_tensor(index_select(a, idx), {2, 5}, ei, 0, "index_select of a slice");
    std::vector<double> em;
    for (int j = 0; j < 5; ++j) em.push_back(std::max({av[j], av[5 + j], av[10 + j]}));
    check_tensor(max(a.t(), 1), {5}, em, 0, "max over dim 1 of a transpose");
    CHECK(argmax(base.t().contiguous().t().slice(2, 5)).to_vector<int64_t>() ==
          argmax(a.contiguous()).to_vector<int64_t>());
  }
}

TEST_CASE("core: larger matmul and reductions (blocked paths, determinism)") {
  const Tensor a = random_tensor({67, 130}, 260u, DType::F32), b = random_tensor({130, 71}, 261u, DType::F32);
  const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
  std::vector<double> expected(67 * 71, 0.0);
  for (int i = 0; i < 67; ++i)
    for (int k = 0; k < 130; ++k)
      for (int j = 0; j < 71; ++j) expected[i * 71 + j] += av[i * 130 + k] * bv[k * 71 + j];
  check_tensor(matmul(a, b), {67, 71}, expected, 1e-4, "matmul 67x130x71 f32");

  const Tensor big = random_tensor({100000}, 262u, DType::F32);
  const std::vector<double> bigv = to_doubles(big);
  double total = 0;
  for (double v : bigv) total += v;
  const Tensor s1 = sum(big), s2 = sum(big);
  CHECK(std::fabs(s1.item() - total) <= 0.05);
  CHECK(s1.item() == s2.item());
  check_close({dot_value(big, big)}, {[&] {
                double acc = 0;
                for (double v : bigv) acc += v * v;
                return acc;
              }()}, 1e-6, "dot_value of 100k f32");
  const Tensor rows = big.view({1000, 100});
  Shape kept;
  check_tensor(sum(rows, {1}), {1000}, sum_reference(bigv, {1000, 100}, {1}, &kept), 1e-5,
               "row sums of [1000, 100]");
  check_tensor(mean(rows, {0}), {100}, [&] {
    std::vector<double> m = sum_reference(bigv, {1000, 100}, {0}, &kept);
    for (double& v : m) v /= 1000;
    return m;
  }(), 1e-5, "column means of [1000, 100]");
}

TEST_CASE("core: concat on dim 1 of 4-D tensors and index_select of images") {
  const Tensor a = random_tensor({2, 3, 2, 2}, 270u), b = random_tensor({2, 1, 2, 2}, 271u);
  const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
  std::vector<double> expected;
  for (int n = 0; n < 2; ++n) {
    for (int k = 0; k < 12; ++k) expected.push_back(av[n * 12 + k]);
    for (int k = 0; k < 4; ++k) expected.push_back(bv[n * 4 + k]);
  }
  check_tensor(concat({a, b}, 1), {2, 4, 2, 2}, expected, 0, "concat channels");
  std::vector<uint8_t> pixels(5 * 3 * 2 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 4 + 1);
  const Tensor images = from_vector<uint8_t>(pixels, {5, 3, 2, 2});
  const Tensor picked = index_select(images, from_vector<int64_t>({3, 3, 0}, {3}));
  CHECK(picked.shape() == Shape{3, 3, 2, 2});
  std::vector<uint8_t> ep;
  for (int r : {3, 3, 0})
    for (int k = 0; k < 12; ++k) ep.push_back(pixels[r * 12 + k]);
  CHECK(picked.to_vector<uint8_t>() == ep);
}

TEST_CASE("core: compare on integer tensors (accuracy counting)") {
  const Tensor logits = from_vector<double>({0.1, 0.9, 0.3, 2.0, -1.0, 0.5, 0.2, 0.2, 0.7}, {3, 3});
  const Tensor labels = from_vector<int64_t>({1, 2, 2}, {3});
  const Tensor hits = compare(BinaryOp::Eq, argmax(logits), labels);
  CHECK(hits.dtype() == DType::I64);
  CHECK(hits.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  const Tensor bytes = from_vector<uint8_t>({0, 100, 200, 255}, {4});
  const Tensor bright = compare(BinaryOp::Ge, bytes, 128.0);
  CHECK(bright.dtype() == DType::U8);
  CHECK(bright.to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 1, 1});
  CHECK(compare(BinaryOp::Lt, from_vector<int32_t>({-3, 4}, {2}), 0.0).to_vector<int32_t>() ==
        std::vector<int32_t>{1, 0});
}
