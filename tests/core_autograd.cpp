// Autograd engine behaviour: graph shapes (diamond, reuse), accumulation into
// pre-set gradient buffers (the flat-arena contract), retained graphs, NoGrad
// scopes and detach. Expected gradients are derived by hand in each case.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

Tensor leaf(const Shape& shape, uint32_t seed) {
  Tensor t = random_tensor(shape, seed);
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("core: diamond graph gives the summed gradient of both branches") {
  const Tensor x = leaf({4}, 600u);
  const std::vector<double> xv = to_doubles(x);
  // y = sum(exp(x) * (3x)):  dy/dx = 3 exp(x) x + 3 exp(x)
  const Tensor left = exp(x), right = mul(x, 3.0);
  sum(mul(left, right)).backward();
  std::vector<double> expected;
  for (double v : xv) expected.push_back(3 * std::exp(v) * (v + 1));
  check_tensor(x.grad(), {4}, expected, 1e-12, "diamond");
}

TEST_CASE("core: a tensor used twice in one op and across ops") {
  const Tensor x = leaf({5}, 601u);
  const std::vector<double> xv = to_doubles(x);
  sum(mul(x, x)).backward();
  std::vector<double> expected;
  for (double v : xv) expected.push_back(2 * v);
  check_tensor(x.grad(), {5}, expected, 1e-12, "x*x");

  // z = sum(a*b + a) with b = a*a:  dz/da = 3a^2 + 1
  const Tensor a = leaf({3}, 602u);
  const std::vector<double> av = to_doubles(a);
  const Tensor b = mul(a, a);
  sum(add(mul(a, b), a)).backward();
  std::vector<double> ea;
  for (double v : av) ea.push_back(3 * v * v + 1);
  check_tensor(a.grad(), {3}, ea, 1e-12, "a*(a*a) + a");
}

TEST_CASE("core: only inputs that require grad receive one") {
  const Tensor x = leaf({3}, 603u);
  const Tensor c = random_tensor({3}, 604u);
  const std::vector<double> cv = to_doubles(c);
  sum(mul(x, c)).backward();
  check_tensor(x.grad(), {3}, cv, 1e-15, "d/dx sum(x*c)");
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(c.requires_grad());
  const Tensor plain = add(c, c);
  CHECK_FALSE(plain.requires_grad());
  CHECK(plain.grad_fn() == nullptr);
}

TEST_CASE("core: gradients accumulate across backward calls and reset") {
  const Tensor x = leaf({4}, 605u);
  const std::vector<double> xv = to_doubles(x);
  std::vector<double> once, twice;
  for (double v : xv) {
    once.push_back(std::exp(v));
    twice.push_back(2 * std::exp(v));
  }
  sum(exp(x)).backward();
  check_tensor(x.grad(), {4}, once, 1e-12, "first backward");
  sum(exp(x)).backward();
  check_tensor(x.grad(), {4}, twice, 1e-12, "accumulated second backward");

  x.set_grad(Tensor());
  CHECK_FALSE(x.grad().defined());
  sum(exp(x)).backward();
  check_tensor(x.grad(), {4}, once, 1e-12, "after set_grad(Tensor())");

  x.grad().zero_();
  sum(exp(x)).backward();
  check_tensor(x.grad(), {4}, once, 1e-12, "after grad().zero_()");
}

TEST_CASE("core: a pre-set gradient view is accumulated in place") {
  // The flat parameter arena: each parameter's .grad is a view into one buffer.
  Tensor arena = zeros({10}, DType::F64);
  const Tensor w = leaf({2, 2}, 606u), v = leaf({3}, 607u);
  w.set_grad(arena.slice(1, 5).view({2, 2}));
  v.set_grad(arena.narrow(0, 6, 3));
  const std::vector<double> wv = to_doubles(w), vv = to_doubles(v);
  // loss = sum(w*w) + sum(3v):  dw = 2w, dv = 3
  sum(mul(w, w)).backward();
  sum(mul(v, 3.0)).backward();
  CHECK(w.grad().shares_storage(arena));
  CHECK(v.grad().shares_storage(arena));
  std::vector<double> expected = {0, 2 * wv[0], 2 * wv[1], 2 * wv[2], 2 * wv[3], 0, 3, 3, 3, 0};
  check_tensor(arena, {10}, expected, 1e-15, "arena after one backward");
  sum(mul(w, w)).backward();
  for (int i = 1; i < 5; ++i) expected[i] *= 2;
  check_tensor(arena, {10}, expected, 1e-15, "arena after a second backward");
  // A gradient arriving through a broadcast still lands in the arena view.
  arena.zero_();
  sum(mul(v.unsqueeze(0).expand({2, 3}), 1.5)).backward();
  check_tensor(arena, {10}, {0, 0, 0, 0, 0, 0, 3, 3, 3, 0}, 1e-15, "arena after broadcast backward");
}

TEST_CASE("core: retain_graph allows a second upstream gradient") {
  const Tensor x = leaf({3}, 608u);
  const std::vector<double> xv = to_doubles(x);
  const Tensor y = mul(exp(x), x);  // dy/dx = exp(x) (1 + x), elementwise
  const Tensor u1 = from_vector<double>({1.0, -2.0, 0.5}, {3});
  const Tensor u2 = from_vector<double>({-3.0, 0.25, 4.0}, {3});
  y.backward(u1, true);
  std::vector<double> e1, e2;
  for (int i = 0; i < 3; ++i) {
    const double d = std::exp(xv[i]) * (1 + xv[i]);
    e1.push_back(d * to_doubles(u1)[i]);
    e2.push_back(d * to_doubles(u2)[i]);
  }
  check_tensor(x.grad(), {3}, e1, 1e-12, "first upstream");
  x.set_grad(Tensor());
  y.backward(u2);
  check_tensor(x.grad(), {3}, e2, 1e-12, "second upstream through the retained graph");
  // That backward did not retain: a third one has nothing to run on.
  CHECK_THROWS_AS(y.backward(u1), Error);
}

TEST_CASE("core: a second backward without retain_graph throws") {
  const Tensor x = leaf({3}, 609u);
  const Tensor loss = sum(mul(exp(x), x));
  loss.backward();
  CHECK_THROWS_AS(loss.backward(), Error);
}

TEST_CASE("core: backward with an upstream gradient on a non-scalar") {
  const Tensor a = leaf({2, 3}, 610u), b = leaf({3}, 611u);
  const std::vector<double> av = to_doubles(a), bv = to_doubles(b);
  const Tensor up = random_tensor({2, 3}, 612u);
  const std::vector<double> uv = to_doubles(up);
  mul(a, b).backward(up);  // b broadcast over rows
  std::vector<double> ga, gb(3, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      ga.push_back(uv[i * 3 + j] * bv[j]);
      gb[j] += uv[i * 3 + j] * av[i * 3 + j];
    }
  check_tensor(a.grad(), {2, 3}, ga, 1e-12, "grad a");
  check_tensor(b.grad(), {3}, gb, 1e-12, "grad b (summed over the broadcast)");
}

TEST_CASE("core: NoGrad disables recording and nests") {
  const Tensor x = leaf({3}, 613u);
  CHECK(grad_enabled());
  {
    NoGrad outer;
    CHECK_FALSE(grad_enabled());
    const Tensor y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    {
      NoGrad inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // leaving the inner scope keeps the outer one
    CHECK(exp(x).grad_fn() == nullptr);
    CHECK_FALSE(any_requires_grad({x}));
  }
  CHECK(grad_enabled());
  CHECK(any_requires_grad({x, Tensor()}));
  const Tensor z = mul(x, x);
  CHECK(z.requires_grad());
  CHECK(z.grad_fn() != nullptr);
  CHECK_FALSE(z.is_leaf());
  CHECK(x.is_leaf());
}

TEST_CASE("core: detach cuts the graph") {
  const Tensor x = leaf({4}, 614u);
  const std::vector<double> xv = to_doubles(x);
  // d/dx sum(detach(x*x) * x) = x*x only (no path through the detached factor)
  sum(mul(mul(x, x).detach(), x)).backward();
  std::vector<double> expected;
  for (double v : xv) expected.push_back(v * v);
  check_tensor(x.grad(), {4}, expected, 1e-12, "detached branch");
}

TEST_CASE("core: requires_grad_ is for leaves only") {
  Tensor x = leaf({2}, 615u);
  Tensor y = mul(x, 2.0);
  CHECK_THROWS_AS(y.requires_grad_(false), Error);
  CHECK(y.requires_grad());
  Tensor z = random_tensor({2}, 616u);
  z.requires_grad_();
  CHECK(z.requires_grad());
  z.requires_grad_(false);
  CHECK_FALSE(z.requires_grad());
}

TEST_CASE("core: gradients flow into a leaf through views") {
  const Tensor x = leaf({4, 3}, 617u);
  sum(mul(x.slice(1, 3), 2.0)).backward();
  check_tensor(x.grad(), {4, 3}, {0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0}, 1e-15, "slice backward");
  x.set_grad(Tensor());
  sum(mul(x.t().narrow(0, 2, 1), 5.0)).backward();
  check_tensor(x.grad(), {4, 3}, {0, 0, 5, 0, 0, 5, 0, 0, 5, 0, 0, 5}, 1e-15,
               "transpose + narrow backward");
}

TEST_CASE("core: paths of unequal depth are all summed before a node runs") {
  const Tensor x = leaf({3}, 618u);
  const std::vector<double> xv = to_doubles(x);
  // a = exp(x), c = exp(a*a); loss = sum(a + c):  dloss/dx = a + exp(a^2) * 2a * a
  const Tensor a = exp(x);
  const Tensor c = exp(mul(a, a));
  sum(add(a, c)).backward();
  std::vector<double> expected;
  for (double v : xv) {
    const double av = std::exp(v);
    expected.push_back(av + std::exp(av * av) * 2 * av * av);
  }
  check_tensor(x.grad(), {3}, expected, 1e-12, "unequal depth");
  CHECK_FALSE(a.grad().defined());  // only leaves accumulate .grad
}

TEST_CASE("core: a node does not keep its own output alive; backward releases the graph") {
  const Tensor x = leaf({3}, 619u);
  Tensor y = exp(x);
  const std::weak_ptr<TensorImpl> watch = y.impl_ptr();
  const std::shared_ptr<Node> node = y.grad_fn();
  REQUIRE(node != nullptr);
  y = Tensor();
  CHECK(watch.expired());
  CHECK_FALSE(node->released());

  const Tensor loss = sum(mul(exp(x), x));
  loss.backward(Tensor(), true);
  CHECK_FALSE(loss.grad_fn()->released());
  loss.backward();
  CHECK(loss.grad_fn()->released());
}

TEST_CASE("core: the graph keeps what backward saved, not every intermediate") {
  // relu saves its output and mul-by-a-scalar saves nothing: the doubled
  // tensor is dropped as soon as the caller drops it, and backward still runs.
  const Tensor x = leaf({6}, 621u);
  Tensor doubled = mul(x, 2.0);
  const std::weak_ptr<TensorImpl> watch = doubled.impl_ptr();
  const std::weak_ptr<Storage> watch_data = doubled.impl()->storage;
  Tensor y = relu(doubled);
  doubled = Tensor();
  CHECK(watch.expired());
  CHECK(watch_data.expired());
  // Two uses of one intermediate whose tensor is gone: gradients still add up.
  Tensor shared = exp(x);
  const std::weak_ptr<TensorImpl> watch_shared = shared.impl_ptr();
  const Tensor z = add(sum(y), sum(mul(shared, shared)));
  shared = Tensor();
  CHECK(watch_shared.expired());
  z.backward();
  const std::vector<double> xv = to_doubles(x), gv = to_doubles(x.grad());
  for (size_t i = 0; i < xv.size(); ++i) {
    const double want = (xv[i] > 0 ? 2.0 : 0.0) + 2.0 * std::exp(2.0 * xv[i]);
    CHECK(gv[i] == doctest::Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("core: a deep chain backpropagates and is freed without exhausting the stack") {
  const Tensor x = leaf({2}, 620u);
  const std::vector<double> xv = to_doubles(x);
  const int depth = 20000;
  {
    Tensor y = x;
    for (int i = 0; i < depth; ++i) y = mul(y, 1.0001);
    sum(y).backward();
  }  // the whole chain is destroyed here
  const double expected = std::pow(1.0001, depth);
  check_tensor(x.grad(), {2}, {expected, expected}, 1e-9, "gradient through 20000 nodes");
}

TEST_CASE("core: gradients at kinks and ties follow the documented subgradient") {
  // relu: a * (b > 0), so exactly 0 at 0.
  Tensor x = from_vector<double>({0.0, -1.0, 2.0}, {3});
  x.requires_grad_();
  sum(relu(x)).backward();
  check_tensor(x.grad(), {3}, {0.0, 0.0, 1.0}, 0, "relu gradient at 0");
  // max pooling over a window of equal values routes the whole gradient to one position.
  Tensor flat = ones({1, 1, 2, 2}, DType::F64);
  flat.requires_grad_();
  sum(max_pool2d(flat, Pool2dParams{})).backward();
  const std::vector<double> g = to_doubles(flat.grad());
  int nonzero = 0;
  double total = 0;
  for (double v : g) {
    nonzero += v != 0.0;
    total += v;
  }
  CHECK(nonzero == 1);
  CHECK(total == 1.0);
}
