// Tensor handle tests: factories, metadata, views sharing storage, copies,
// dtype conversion, host read-out and the unrecorded in-place operations.
// Expected values are written out by hand or computed with index loops here.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

// [rows, cols] float tensor holding 0, 1, 2, ... written through from_vector.
Tensor counting(int64_t rows, int64_t cols) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return from_vector<float>(v, {rows, cols});
}

}  // namespace

TEST_CASE("core: factories fill every dtype") {
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
    CAPTURE(dtype_name(dt));
    const Tensor z = zeros({2, 3}, dt);
    CHECK(z.dtype() == dt);
    CHECK(z.device() == Device::cpu());
    check_tensor(z, {2, 3}, std::vector<double>(6, 0.0), 0, "zeros");
    check_tensor(ones({4}, dt), {4}, std::vector<double>(4, 1.0), 0, "ones");
    check_tensor(full({3, 1}, 7.0, dt), {3, 1}, std::vector<double>(3, 7.0), 0, "full");
  }
  check_tensor(full({2}, -2.5, DType::F32), {2}, {-2.5, -2.5}, 0, "full f32 fractional");
  const Tensor e = empty({5, 2}, DType::F64);
  CHECK(e.shape() == Shape{5, 2});
  CHECK(e.dtype() == DType::F64);
}

TEST_CASE("core: arange and from_vector") {
  const Tensor a = arange(5);
  CHECK(a.dtype() == DType::I64);
  CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  check_tensor(arange(4, DType::F32), {4}, {0, 1, 2, 3}, 0, "arange f32");
  check_tensor(arange(3, DType::F64), {3}, {0, 1, 2}, 0, "arange f64");

  const Tensor f = from_vector<float>({1.5f, -2.25f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(f.dtype() == DType::F32);
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.f, 4.f, 5.f, 6.f});
  const Tensor d = from_vector<double>({0.1, 0.2}, {2, 1});
  CHECK(d.dtype() == DType::F64);
  CHECK(d.shape() == Shape{2, 1});
  CHECK(d.to_vector<double>() == std::vector<double>{0.1, 0.2});
  CHECK(from_vector<int32_t>({-7, 9}, {2}).to_vector<int32_t>() == std::vector<int32_t>{-7, 9});
  CHECK(from_vector<int64_t>({1ll << 40}, {1}).to_vector<int64_t>() == std::vector<int64_t>{1ll << 40});
  const Tensor u = from_vector<uint8_t>({0, 128, 255}, {3});
  CHECK(u.dtype() == DType::U8);
  CHECK(u.to_vector<uint8_t>() == std::vector<uint8_t>{0, 128, 255});
}

TEST_CASE("core: shape, strides and numel") {
  const Tensor t = zeros({2, 3, 4});
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.strides() == Shape{12, 4, 1});
  CHECK(t.numel() == 24);
  CHECK(t.dim() == 3);
  CHECK(t.size(0) == 2);
  CHECK(t.size(-1) == 4);
  CHECK(t.size(-3) == 2);
  CHECK(t.offset() == 0);
  CHECK(t.is_contiguous());
  CHECK(shape_str({2, 3, 4}) == "[2, 3, 4]");
  CHECK(shape_str({}) == "[]");
  CHECK(shape_numel({2, 3, 4}) == 24);
  CHECK(shape_numel({}) == 1);
  CHECK(contiguous_strides({5, 1, 3}) == Shape{3, 3, 1});
  CHECK(contiguous_strides({}).empty());
  CHECK(contains(t.str(), "f32"));
  CHECK(contains(t.str(), "[2, 3, 4]"));
}

TEST_CASE("core: view and reshape share storage; writes through a view are visible") {
  const Tensor x = counting(3, 4);
  const Tensor v = x.view({4, 3});
  CHECK(v.shape() == Shape{4, 3});
  CHECK(v.shares_storage(x));
  v.data<float>()[5] = 100.f;
  CHECK(x.to_vector<float>()[5] == 100.f);

  const Tensor r = x.reshape({-1, 6});
  CHECK(r.shape() == Shape{2, 6});
  CHECK(r.shares_storage(x));
  CHECK(x.view({2, -1, 3}).shape() == Shape{2, 2, 3});
  CHECK(x.reshape({12}).to_vector<float>() == x.to_vector<float>());
  CHECK_THROWS_AS(x.view({5, -1}), Error);
  CHECK_THROWS_AS(x.view({5, 3}), Error);
  CHECK_THROWS_AS(x.reshape({-1, -1}), Error);
}

TEST_CASE("core: view of a non-contiguous tensor throws, reshape copies") {
  const Tensor x = counting(3, 4);
  const Tensor xt = x.t();
  CHECK_FALSE(xt.is_contiguous());
  CHECK_THROWS_AS(xt.view({12}), Error);
  const Tensor r = xt.reshape({12});
  CHECK_FALSE(r.shares_storage(x));
  std::vector<double> expected;
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 3; ++i) expected.push_back(i * 4 + j);
  check_tensor(r, {12}, expected, 0, "reshape of transpose");
}

TEST_CASE("core: slice and narrow are views") {
  const Tensor x = counting(4, 3);
  const Tensor s = x.slice(1, 3);
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.offset() == 3);
  CHECK(s.shares_storage(x));
  check_tensor(s, {2, 3}, {3, 4, 5, 6, 7, 8}, 0, "slice");
  s.data<float>()[0] = -1.f;
  CHECK(x.to_vector<float>()[3] == -1.f);

  const Tensor n = x.narrow(1, 1, 2);
  CHECK(n.shape() == Shape{4, 2});
  CHECK(n.shares_storage(x));
  CHECK_FALSE(n.is_contiguous());
  check_tensor(n, {4, 2}, {1, 2, 4, 5, 7, 8, 10, 11}, 0, "narrow dim 1");
  check_tensor(x.narrow(0, 2, 2), {2, 3}, {6, 7, 8, 9, 10, 11}, 0, "narrow dim 0");
  CHECK_THROWS_AS(x.slice(2, 5), Error);
  CHECK_THROWS_AS(x.narrow(1, 2, 2), Error);
}

TEST_CASE("core: transpose and contiguous match an index loop") {
  const Shape shape{2, 3, 4};
  const Tensor x = random_tensor(shape, 11u, DType::F32);
  const std::vector<double> xv = to_doubles(x);
  const Tensor t = x.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Shape{1, 4, 12});
  CHECK(t.shares_storage(x));
  const Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage(x));
  std::vector<double> expected;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) expected.push_back(xv[i * 12 + j * 4 + k]);
  check_tensor(c, {4, 3, 2}, expected, 0, "transpose(0, 2).contiguous()");
  CHECK(x.contiguous().same(x));  // already contiguous: no copy

  const Tensor m = counting(2, 3);
  check_tensor(m.t(), {3, 2}, {0, 3, 1, 4, 2, 5}, 0, "t()");
  check_tensor(m.transpose(1, 0).contiguous(), {3, 2}, {0, 3, 1, 4, 2, 5}, 0, "transpose(1, 0)");
}

TEST_CASE("core: squeeze, unsqueeze, flatten, expand") {
  const Tensor x = random_tensor({2, 1, 3}, 12u, DType::F32);
  const std::vector<double> xv = to_doubles(x);
  const Tensor s = x.squeeze(1);
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.shares_storage(x));
  check_tensor(s, {2, 3}, xv, 0, "squeeze");
  CHECK(s.unsqueeze(0).shape() == Shape{1, 2, 3});
  CHECK(s.unsqueeze(2).shape() == Shape{2, 3, 1});
  CHECK(s.unsqueeze(1).shape() == Shape{2, 1, 3});
  check_tensor(s.unsqueeze(2), {2, 3, 1}, xv, 0, "unsqueeze");

  const Tensor y = random_tensor({2, 3, 4}, 13u, DType::F32);
  const std::vector<double> yv = to_doubles(y);
  check_tensor(y.flatten(), {2, 12}, yv, 0, "flatten()");
  check_tensor(y.flatten(0), {24}, yv, 0, "flatten(0)");
  check_tensor(y.flatten(2), {2, 3, 4}, yv, 0, "flatten(2)");

  const Tensor col = from_vector<float>({1.f, 2.f, 3.f}, {3, 1});
  const Tensor ec = col.expand({3, 4});
  CHECK(ec.shape() == Shape{3, 4});
  CHECK(ec.strides()[1] == 0);
  CHECK(ec.shares_storage(col));
  check_tensor(ec, {3, 4}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, 0, "expand column");
  const Tensor row = from_vector<float>({5.f, 6.f}, {1, 2});
  check_tensor(row.expand({3, 2}), {3, 2}, {5, 6, 5, 6, 5, 6}, 0, "expand row");
  CHECK_THROWS_AS(row.expand({3, 3}), Error);
}

TEST_CASE("core: clone is a deep copy") {
  const Tensor x = counting(2, 2);
  const Tensor c = x.clone();
  CHECK_FALSE(c.shares_storage(x));
  c.data<float>()[0] = 42.f;
  CHECK(x.to_vector<float>()[0] == 0.f);
  CHECK(c.to_vector<float>() == std::vector<float>{42.f, 1.f, 2.f, 3.f});
  const Tensor ct = x.t().clone();
  CHECK(ct.is_contiguous());
  check_tensor(ct, {2, 2}, {0, 2, 1, 3}, 0, "clone of transpose");
}

TEST_CASE("core: to(DType) converts, float to int truncates toward zero") {
  const Tensor f = from_vector<float>({1.7f, -1.7f, 2.5f, -0.2f, 3.0f}, {5});
  CHECK(f.to(DType::I32).to_vector<int32_t>() == std::vector<int32_t>{1, -1, 2, 0, 3});
  CHECK(f.to(DType::I64).to_vector<int64_t>() == std::vector<int64_t>{1, -1, 2, 0, 3});
  const std::vector<double> fd = f.to(DType::F64).to_vector<double>();
  CHECK(fd[0] == static_cast<double>(1.7f));
  CHECK(fd[1] == static_cast<double>(-1.7f));
  CHECK(from_vector<double>({3.9, 200.2, 0.5}, {3}).to(DType::U8).to_vector<uint8_t>() ==
        std::vector<uint8_t>{3, 200, 0});
  CHECK(from_vector<uint8_t>({7, 255}, {2}).to(DType::F32).to_vector<float>() ==
        std::vector<float>{7.f, 255.f});
  CHECK(from_vector<int64_t>({-3, 5}, {2}).to(DType::F64).to_vector<double>() ==
        std::vector<double>{-3.0, 5.0});
  CHECK(from_vector<double>({0.1}, {1}).to(DType::F32).to_vector<float>()[0] == 0.1f);
  // A strided source converts in logical order.
  const Tensor m = counting(2, 3);
  CHECK(m.t().to(DType::I32).to_vector<int32_t>() == std::vector<int32_t>{0, 3, 1, 4, 2, 5});
  CHECK(m.to(Device::cpu()).to_vector<float>() == m.to_vector<float>());
}

TEST_CASE("core: item and to_vector") {
  CHECK(full({1}, 3.5, DType::F32).item() == 3.5);
  CHECK(full({1, 1}, -2.25, DType::F64).item() == -2.25);
  CHECK(full({1}, 9, DType::I32).item() == 9.0);
  CHECK(full({1}, 1e12, DType::I64).item() == 1e12);
  CHECK(full({1}, 200, DType::U8).item() == 200.0);
  CHECK(counting(3, 4).slice(2, 3).narrow(1, 3, 1).item() == 11.0);
  // to_vector of a strided view reads in logical order.
  CHECK(counting(2, 3).t().to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(counting(3, 4).narrow(1, 1, 2).to_vector<float>() ==
        std::vector<float>{1, 2, 5, 6, 9, 10});
}

TEST_CASE("core: detach shares storage and drops history") {
  Tensor x = random_tensor({3}, 14u);
  x.requires_grad_();
  const Tensor y = mul(x, x);
  REQUIRE(y.requires_grad());
  REQUIRE(y.grad_fn() != nullptr);
  const Tensor d = y.detach();
  CHECK(d.shares_storage(y));
  CHECK_FALSE(d.requires_grad());
  CHECK(d.grad_fn() == nullptr);
  CHECK(d.is_leaf());
  check_close(to_doubles(d), to_doubles(y), 0, "detach values");
  const Tensor xd = x.detach();
  xd.data<double>()[0] = 5.0;
  CHECK(x.to_vector<double>()[0] == 5.0);
}

TEST_CASE("core: in-place fill_, copy_, add_, mul_") {
  Tensor x = counting(3, 4);
  Tensor column = x.narrow(1, 2, 1);
  column.fill_(-1.0);
  std::vector<double> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(i % 4 == 2 ? -1.0 : i);
  check_tensor(x, {3, 4}, expected, 0, "fill_ through a strided view");

  Tensor a = zeros({2, 3}, DType::F32);
  const Tensor src = from_vector<double>({0.5, 1.5, -2.0, 4.0, 8.0, -16.0}, {2, 3});
  a.copy_(src);
  check_tensor(a, {2, 3}, {0.5, 1.5, -2.0, 4.0, 8.0, -16.0}, 0, "copy_ f64 -> f32");
  Tensor b = zeros({3, 2}, DType::F64);
  b.copy_(a.t());
  check_tensor(b, {3, 2}, {0.5, 4.0, 1.5, 8.0, -2.0, -16.0}, 0, "copy_ from a transpose");
  Tensor bt = zeros({2, 3}, DType::F64);
  bt.t().copy_(b);  // destination is a strided view
  check_tensor(bt, {2, 3}, {0.5, 1.5, -2.0, 4.0, 8.0, -16.0}, 0, "copy_ into a transpose");

  Tensor p = random_tensor({5}, 15u);
  const Tensor q = random_tensor({5}, 16u);
  const std::vector<double> pv = to_doubles(p), qv = to_doubles(q);
  p.add_(q, -0.5);
  std::vector<double> e1;
  for (int i = 0; i < 5; ++i) e1.push_back(pv[i] - 0.5 * qv[i]);
  check_tensor(p, {5}, e1, 1e-15, "add_ with alpha");
  p.add_(q);
  for (int i = 0; i < 5; ++i) e1[i] += qv[i];
  check_tensor(p, {5}, e1, 1e-15, "add_");
  p.mul_(3.0);
  for (double& v : e1) v *= 3.0;
  check_tensor(p, {5}, e1, 1e-15, "mul_");

  // In-place arithmetic on a view writes into the base tensor.
  Tensor base = zeros({4}, DType::F64);
  base.slice(1, 3).add_(from_vector<double>({2.0, 3.0}, {2}));
  base.slice(2, 4).mul_(10.0);
  check_tensor(base, {4}, {0, 2, 30, 0}, 0, "add_/mul_ on slices");
  CHECK(x.zero_().to_vector<float>() == std::vector<float>(12, 0.f));
}

TEST_CASE("core: make_view wraps existing storage") {
  const Tensor arena = counting(1, 10).view({10});
  const Tensor v = make_view(arena.impl()->storage, {2, 2}, {1, 2}, 3, DType::F32);
  CHECK(v.shares_storage(arena));
  check_tensor(v, {2, 2}, {3, 5, 4, 6}, 0, "make_view");
  const Tensor s = scalar_like(from_vector<double>({1.0}, {1}), 2.5);
  CHECK(s.dtype() == DType::F64);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 2.5);
}
