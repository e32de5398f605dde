// Finite-difference gradient checks (tests/gradcheck.h, f64) for the
// elementwise, reduction, view, linear-algebra, indexing and joining ops,
// including broadcast operands whose gradients must be summed back.
// (Network ops: core_gradcheck_nn.cpp.)
#include <doctest/doctest.h>

#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

Tensor leaf(const Shape& shape, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = random_tensor(shape, seed, DType::F64, lo, hi);
  t.requires_grad_();
  return t;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

}  // namespace

TEST_CASE("core: gradients of broadcasting binary ops") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{3, 4}, {3, 4}}, {{4}, {2, 3, 4}}, {{2, 3}, {}}};
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }},
      {"sub", [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }},
      {"mul", [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }},
      {"div", [](const std::vector<Tensor>& in) { return div(in[0], in[1]); }}};
  uint32_t seed = 400;
  for (const auto& shapes : cases)
    for (const auto& op : ops) {
      // Plain names, not structured bindings: clang 14 (make sanitize) refuses
      // structured bindings inside doctest's INFO lambda.
      const auto& as = shapes.first;
      const auto& bs = shapes.second;
      const char* name = op.first;
      const Fn& f = op.second;
      INFO(name, " ", shape_str(as), " x ", shape_str(bs));
      // Divisors kept in [0.5, 2] so the quotient is smooth at the eps scale.
      const bool is_div = std::string(name) == "div";
      check_gradients(f, {leaf(as, seed), leaf(bs, seed + 1, is_div ? 0.5 : -1.0, is_div ? 2.0 : 1.0)});
      seed += 2;
    }
}

TEST_CASE("core: gradients of scalar and unary ops") {
  const Shape s{3, 4};
  check_gradients([](const std::vector<Tensor>& in) { return add(in[0], 0.7); }, {leaf(s, 410u)});
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0], -1.3); }, {leaf(s, 411u)});
  check_gradients([](const std::vector<Tensor>& in) { return neg(in[0]); }, {leaf(s, 412u)});
  check_gradients([](const std::vector<Tensor>& in) { return exp(in[0]); }, {leaf(s, 413u)});
  check_gradients([](const std::vector<Tensor>& in) { return log(in[0]); }, {leaf(s, 414u, 0.5, 2.0)});
  check_gradients([](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {leaf(s, 415u, 0.5, 2.0)});
  check_gradients([](const std::vector<Tensor>& in) { return square(in[0]); }, {leaf(s, 416u)});
  check_gradients([](const std::vector<Tensor>& in) { return relu(in[0]); }, {leaf(s, 417u)});
  // A chain through a strided operand.
  check_gradients([](const std::vector<Tensor>& in) { return exp(mul(in[0].t(), in[1])); },
                  {leaf({4, 3}, 418u), leaf({3, 4}, 419u)});
}

TEST_CASE("core: gradients of sum and mean") {
  const Shape s{2, 3, 4};
  check_gradients([](const std::vector<Tensor>& in) { return sum(in[0]); }, {leaf(s, 420u)});
  check_gradients([](const std::vector<Tensor>& in) { return mean(in[0]); }, {leaf(s, 421u)});
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {0, 2}, {1, 2}};
  uint32_t seed = 422;
  for (const auto& dims : dim_sets)
    for (bool keep : {false, true}) {
      INFO("dims ", dims.size(), " first ", dims[0], " keepdim ", keep);
      check_gradients([&](const std::vector<Tensor>& in) { return sum(in[0], dims, keep); },
                      {leaf(s, seed++)});
      check_gradients([&](const std::vector<Tensor>& in) { return mean(in[0], dims, keep); },
                      {leaf(s, seed++)});
    }
}

TEST_CASE("core: gradients through views") {
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0].reshape({4, 6}), in[1]); },
                  {leaf({2, 3, 4}, 430u), leaf({4, 6}, 431u)});
  check_gradients([](const std::vector<Tensor>& in) { return square(in[0].view({-1, 3})); },
                  {leaf({2, 6}, 432u)});
  check_gradients([](const std::vector<Tensor>& in) { return exp(in[0].slice(1, 3)); },
                  {leaf({4, 3}, 433u)});
  check_gradients([](const std::vector<Tensor>& in) { return in[0].transpose(0, 2); },
                  {leaf({2, 3, 4}, 434u)});
  check_gradients([](const std::vector<Tensor>& in) { return square(in[0].narrow(1, 1, 2)); },
                  {leaf({3, 4}, 435u)});
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0].expand({3, 4}), in[1]); },
                  {leaf({3, 1}, 436u), leaf({3, 4}, 437u)});
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0].expand({3, 4}), 2.0); },
                  {leaf({1, 4}, 438u)});
  check_gradients([](const std::vector<Tensor>& in) { return exp(in[0].squeeze(1).unsqueeze(0)); },
                  {leaf({2, 1, 3}, 439u)});
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0].flatten(), in[1]); },
                  {leaf({2, 3, 2}, 440u), leaf({2, 6}, 441u)});
  check_gradients([](const std::vector<Tensor>& in) { return in[0].t().reshape({12}); },
                  {leaf({3, 4}, 442u)});
  check_gradients([](const std::vector<Tensor>& in) { return square(in[0].t().contiguous()); },
                  {leaf({3, 4}, 443u)});
  check_gradients([](const std::vector<Tensor>& in) { return mul(in[0].clone(), in[0]); },
                  {leaf({5}, 444u)});
  // Two overlapping views of the same leaf.
  check_gradients(
      [](const std::vector<Tensor>& in) { return mul(in[0].slice(0, 2), in[0].slice(1, 3)); },
      {leaf({3, 2}, 445u)});
}

TEST_CASE("core: gradients of matmul and linear") {
  check_gradients([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                  {leaf({3, 5}, 450u), leaf({5, 4}, 451u)});
  check_gradients([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                  {leaf({2, 3, 4}, 452u), leaf({2, 4, 2}, 453u)});
  check_gradients([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                  {leaf({2, 3, 4}, 454u), leaf({4, 2}, 455u)});
  check_gradients([](const std::vector<Tensor>& in) { return matmul(in[0].t(), in[1]); },
                  {leaf({4, 3}, 456u), leaf({4, 2}, 457u)});
  check_gradients([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                  {leaf({4, 5}, 458u), leaf({3, 5}, 459u), leaf({3}, 460u)});
  check_gradients([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                  {leaf({4, 5}, 461u), leaf({3, 5}, 462u)});
}

TEST_CASE("core: gradients of index_select, concat and dropout") {
  const Tensor idx = from_vector<int64_t>({2, 0, 2, 3, 2}, {5});
  check_gradients([&](const std::vector<Tensor>& in) { return index_select(in[0], idx); },
                  {leaf({4, 3}, 470u)});
  check_gradients([&](const std::vector<Tensor>& in) { return index_select(in[0], idx); },
                  {leaf({4, 2, 2}, 471u)});
  check_gradients([](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[2]}, 0); },
                  {leaf({2, 3}, 472u), leaf({1, 3}, 473u), leaf({3, 3}, 474u)});
  check_gradients([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); },
                  {leaf({2, 3}, 475u), leaf({2, 2}, 476u)});
  check_gradients(
      [](const std::vector<Tensor>& in) { return concat({in[0].t(), square(in[1])}, 1); },
      {leaf({2, 3}, 477u), leaf({3, 1}, 478u)});
  // A fresh generator with the same seed each call gives the same mask.
  check_gradients(
      [](const std::vector<Tensor>& in) {
        Generator gen(9);
        return dropout(in[0], 0.4, true, gen);
      },
      {leaf({6, 5}, 479u)});
}

TEST_CASE("core: gradients of sum_to_shape and channel concat") {
  check_gradients([](const std::vector<Tensor>& in) { return sum_to_shape(in[0], {3, 1}); },
                  {leaf({2, 3, 4}, 480u)});
  check_gradients([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); },
                  {leaf({2, 2, 2, 2}, 481u), leaf({2, 1, 2, 2}, 482u)});
  check_gradients([](const std::vector<Tensor>& in) { return matmul(in[0].slice(1, 3), in[1].t()); },
                  {leaf({4, 3}, 483u), leaf({2, 3}, 484u)});
}
