// Finite-difference gradient checks (tests/gradcheck.h, f64) for the network
// ops: conv2d (x, w, bias), pooling, batch norm in training mode, alone and
// fused with a ReLU (x, gamma, beta), softmax, log_softmax and cross-entropy
// with label smoothing.
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

}  // namespace

TEST_CASE("core: gradients of conv2d") {
  Conv2dParams plain;
  check_gradients([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], plain); },
                  {leaf({2, 2, 5, 4}, 500u), leaf({3, 2, 3, 3}, 501u), leaf({3}, 502u)});
  Conv2dParams odd;
  odd.stride_h = 2, odd.stride_w = 1, odd.pad_h = 1, odd.pad_w = 2, odd.dilation_h = 1, odd.dilation_w = 2;
  check_gradients([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], odd); },
                  {leaf({1, 2, 6, 5}, 503u), leaf({2, 2, 3, 2}, 504u), leaf({2}, 505u)});
  check_gradients([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), odd); },
                  {leaf({2, 1, 5, 5}, 506u), leaf({2, 1, 2, 3}, 507u)});
}

TEST_CASE("core: gradients of pooling") {
  Pool2dParams two;  // 2x2 stride 2
  Pool2dParams three;
  three.kernel_h = three.kernel_w = 3;
  three.pad_h = three.pad_w = 1;
  three.stride_h = 2, three.stride_w = 1;
  for (const Pool2dParams& base : {two, three}) {
    check_gradients([&](const std::vector<Tensor>& in) { return max_pool2d(in[0], base); },
                    {leaf({2, 2, 5, 4}, 510u)});
    for (bool include : {true, false}) {
      Pool2dParams p = base;
      p.count_include_pad = include;
      check_gradients([&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], p); },
                      {leaf({2, 2, 5, 4}, 511u)});
    }
  }
  check_gradients([](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); },
                  {leaf({2, 3, 3, 2}, 512u)});
}

TEST_CASE("core: gradients of batch_norm (and batch_norm_relu) in training mode") {
  for (const Shape& xs : {Shape{3, 2, 2, 3}, Shape{5, 3}}) {
    INFO(shape_str(xs));
    const int64_t C = xs[1];
    Tensor running_mean = zeros({C}, DType::F64), running_var = ones({C}, DType::F64);
    for (bool fused_relu : {false, true})
      check_gradients(
          [&](const std::vector<Tensor>& in) {
            return (fused_relu ? batch_norm_relu : batch_norm)(in[0], in[1], in[2], running_mean,
                                                               running_var, true, 0.1, 1e-5, true);
          },
          {leaf(xs, 520u, -2.0, 3.0), leaf({C}, 521u), leaf({C}, 522u)});
    // Only x requiring a gradient.
    const Tensor gamma = random_tensor({C}, 523u), beta = random_tensor({C}, 524u);
    check_gradients(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], gamma, beta, running_mean, running_var, true, 0.1, 1e-5, false);
        },
        {leaf(xs, 525u)});
  }
}

TEST_CASE("core: batch_norm_relu's values and gradients are relu(batch_norm)'s") {
  // f32, a ResNet-like shape, training and eval: the fused op and the
  // composition give the same bits, forward and backward.
  for (bool training : {true, false}) {
    INFO(training);
    const Shape xs{4, 6, 5, 3};
    auto run = [&](bool fused) {
      Tensor x = random_tensor(xs, 529u, DType::F32, -2.0, 2.0);
      Tensor gamma = random_tensor({6}, 530u, DType::F32, -1.0, 1.5);
      Tensor beta = random_tensor({6}, 531u, DType::F32);
      for (Tensor* t : {&x, &gamma, &beta}) t->requires_grad_();
      Tensor rm = zeros({6}), rv = ones({6});
      const Tensor y = fused ? batch_norm_relu(x, gamma, beta, rm, rv, training, 0.1, 1e-5)
                             : relu(batch_norm(x, gamma, beta, rm, rv, training, 0.1, 1e-5));
      sum(mul(y, random_tensor(xs, 532u, DType::F32))).backward();
      return std::vector<std::vector<double>>{to_doubles(y), to_doubles(x.grad()),
                                              to_doubles(gamma.grad()), to_doubles(beta.grad()),
                                              to_doubles(rm), to_doubles(rv)};
    };
    const auto fused = run(true), composed = run(false);
    for (size_t i = 0; i < fused.size(); ++i) {
      INFO(i);
      CHECK(fused[i] == composed[i]);
    }
  }
}

TEST_CASE("core: gradients of batch_norm in eval mode and without affine parameters") {
  for (const Shape& xs : {Shape{3, 2, 2, 3}, Shape{5, 3}}) {
    INFO(shape_str(xs));
    const int64_t C = xs[1];
    Tensor running_mean = random_tensor({C}, 540u), running_var = random_tensor({C}, 541u, DType::F64, 0.5, 2.0);
    const std::vector<double> saved_mean = to_doubles(running_mean), saved_var = to_doubles(running_var);
    check_gradients(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], in[1], in[2], running_mean, running_var, false, 0.1, 1e-5);
        },
        {leaf(xs, 542u, -2.0, 3.0), leaf({C}, 543u), leaf({C}, 544u)});
    check_close(to_doubles(running_mean), saved_mean, 0, "eval leaves running mean");
    check_close(to_doubles(running_var), saved_var, 0, "eval leaves running var");
    check_gradients(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], Tensor(), Tensor(), running_mean, running_var, true, 0.1, 1e-5, false);
        },
        {leaf(xs, 545u, -2.0, 3.0)});
  }
}

TEST_CASE("core: gradients of softmax, log_softmax and cross_entropy") {
  check_gradients([](const std::vector<Tensor>& in) { return softmax(in[0]); },
                  {leaf({3, 5}, 530u, -2.0, 2.0)});
  check_gradients([](const std::vector<Tensor>& in) { return log_softmax(in[0]); },
                  {leaf({3, 5}, 531u, -2.0, 2.0)});
  const Tensor labels = from_vector<int64_t>({4, 0, 2, 4}, {4});
  for (double s : {0.0, 0.2}) {
    INFO("smoothing ", s);
    check_gradients(
        [&](const std::vector<Tensor>& in) { return cross_entropy_per_sample(in[0], labels, s); },
        {leaf({4, 5}, 532u, -2.0, 2.0)});
    check_gradients([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], labels, s); },
                    {leaf({4, 5}, 533u, -2.0, 2.0)});
  }
  // A small network-shaped composition: linear -> relu -> log_softmax.
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        return cross_entropy(relu(linear(in[0], in[1], in[2])), labels, 0.1);
      },
      {leaf({4, 3}, 534u), leaf({5, 3}, 535u), leaf({5}, 536u)});
}
