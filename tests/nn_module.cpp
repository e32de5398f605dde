// Module machinery (names, order, rebinding, to(), train()), forward values of
// Conv2d / Linear / pooling / ZeroPadShortcut against plain loops, and init.
#include <doctest/doctest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "nn/blocks.h"
#include "nn/init.h"
#include "nn/layers.h"

using namespace basin;
using basin::testing::random_tensor;

namespace {
std::vector<std::string> names_of(const nn::NamedSlots& slots) {
  std::vector<std::string> out;
  for (const auto& s : slots) out.push_back(s.first);
  return out;
}

std::vector<double> values(const Tensor& t) {
  return t.contiguous().to(DType::F64).to_vector<double>();
}
}  // namespace

TEST_CASE("nn: parameter and buffer names follow PyTorch order") {
  nn::BasicBlock block(4, 8, 2);
  CHECK(names_of(block.named_parameters()) ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                 "bn2.weight", "bn2.bias", "shortcut.0.weight",
                                 "shortcut.1.weight", "shortcut.1.bias"});
  CHECK(names_of(block.named_buffers()) ==
        std::vector<std::string>{"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                                 "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked",
                                 "shortcut.1.running_mean", "shortcut.1.running_var",
                                 "shortcut.1.num_batches_tracked"});
  const auto state = names_of(block.named_state());
  CHECK(state.size() == 18);
  CHECK(state[0] == "conv1.weight");
  CHECK(state[1] == "bn1.weight");
  CHECK(state[3] == "bn1.running_mean");
  CHECK(state[5] == "bn1.num_batches_tracked");
  for (auto* p : block.parameters()) CHECK(p->requires_grad());
  // option A has no shortcut parameters at all
  nn::BasicBlock thin(4, 8, 2, nn::ShortcutKind::ZeroPad);
  CHECK(thin.named_parameters().size() == 6);
}

TEST_CASE("nn: a rebound parameter is what the next forward uses") {
  nn::Linear layer(3, 2, true);
  Tensor x = random_tensor({4, 3}, 1, DType::F32);
  const Tensor before = layer(x);
  // Rebind weight and bias to views into one flat arena, as the optimizer does.
  Tensor arena = zeros({8});
  auto slots = layer.named_parameters();
  REQUIRE(slots.size() == 2);
  int64_t offset = 0;
  for (auto& [name, slot] : slots) {
    Tensor view = make_view(arena.impl()->storage, slot->shape(), contiguous_strides(slot->shape()),
                            offset, DType::F32);
    view.copy_(*slot);
    *slot = view;
    slot->requires_grad_(true);
    offset += view.numel();
  }
  CHECK(values(layer(x)) == values(before));
  arena.fill_(0.5);  // every weight and bias 0.5: y = 0.5 * sum(x) + 0.5
  const auto y = values(layer(x));
  const auto xv = values(x);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      CHECK(y[i * 2 + j] == doctest::Approx(0.5 * (xv[i * 3] + xv[i * 3 + 1] + xv[i * 3 + 2]) + 0.5));
  // gradients land on the rebound views
  sum(layer(x)).backward();
  CHECK(layer.weight.grad().defined());
}

TEST_CASE("nn: to(F64) converts parameters and float buffers, keeps leaves and counters") {
  nn::BasicBlock block(2, 4, 1);
  block.to(DType::F64);
  for (auto& [name, p] : block.named_parameters()) {
    CHECK(p->dtype() == DType::F64);
    CHECK(p->requires_grad());
    CHECK(p->is_leaf());
  }
  for (auto& [name, b] : block.named_buffers())
    CHECK(b->dtype() == (name.find("num_batches_tracked") != std::string::npos ? DType::I64
                                                                              : DType::F64));
  Tensor y = block(random_tensor({2, 2, 5, 5}, 3));
  CHECK(y.dtype() == DType::F64);
  CHECK(y.shape() == Shape{2, 4, 5, 5});
}

TEST_CASE("nn: train/eval reaches every descendant") {
  nn::BasicBlock block(2, 4, 2);
  block.eval();
  for (auto& [name, m] : block.named_modules()) CHECK_FALSE(m->is_training());
  block.train();
  for (auto& [name, m] : block.named_modules()) CHECK(m->is_training());
}

TEST_CASE("nn: Conv2d forward matches a direct loop") {
  Generator gen(5);
  nn::Conv2dOptions opts;
  opts.stride = 2;
  opts.padding = 1;
  nn::Conv2d conv(3, 4, 3, opts, gen);
  conv.to(DType::F64);
  { NoGrad ng; conv.bias.copy_(random_tensor({4}, 9)); }
  const Tensor x = random_tensor({2, 3, 7, 6}, 11);
  const Tensor y = conv(x);
  REQUIRE(y.shape() == Shape{2, 4, 4, 3});
  const auto xv = values(x), wv = values(conv.weight), bv = values(conv.bias), yv = values(y);
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 4; ++o)
      for (int oh = 0; oh < 4; ++oh)
        for (int ow = 0; ow < 3; ++ow) {
          double acc = bv[o];
          for (int c = 0; c < 3; ++c)
            for (int kh = 0; kh < 3; ++kh)
              for (int kw = 0; kw < 3; ++kw) {
                const int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                if (ih < 0 || ih >= 7 || iw < 0 || iw >= 6) continue;
                acc += xv[((n * 3 + c) * 7 + ih) * 6 + iw] * wv[((o * 3 + c) * 3 + kh) * 3 + kw];
              }
          CHECK(yv[((n * 4 + o) * 4 + oh) * 3 + ow] == doctest::Approx(acc).epsilon(1e-12));
        }
}

TEST_CASE("nn: Linear, pooling and Flatten forward match loops") {
  nn::Linear lin(5, 3);
  lin.to(DType::F64);
  const Tensor x = random_tensor({4, 5}, 2);
  const auto y = values(lin(x)), xv = values(x), w = values(lin.weight), b = values(lin.bias);
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 3; ++o) {
      double acc = b[o];
      for (int k = 0; k < 5; ++k) acc += xv[i * 5 + k] * w[o * 5 + k];
      CHECK(y[i * 3 + o] == doctest::Approx(acc).epsilon(1e-12));
    }

  const Tensor img = random_tensor({2, 3, 4, 6}, 4);
  const auto iv = values(img);
  const auto mp = values(nn::MaxPool2d(2)(img));
  const auto ap = values(nn::AvgPool2d(2)(img));
  const Tensor gap = nn::AdaptiveAvgPool2d(1)(img);
  CHECK(gap.shape() == Shape{2, 3, 1, 1});
  const auto gv = values(gap);
  for (int p = 0; p < 6; ++p) {
    double total = 0;
    for (int k = 0; k < 24; ++k) total += iv[p * 24 + k];
    CHECK(gv[p] == doctest::Approx(total / 24).epsilon(1e-12));
    for (int oh = 0; oh < 2; ++oh)
      for (int ow = 0; ow < 3; ++ow) {
        double mx = -1e300, s = 0;
        for (int dh = 0; dh < 2; ++dh)
          for (int dw = 0; dw < 2; ++dw) {
            const double v = iv[p * 24 + (oh * 2 + dh) * 6 + ow * 2 + dw];
            mx = std::max(mx, v);
            s += v;
          }
        CHECK(mp[p * 6 + oh * 3 + ow] == mx);
        CHECK(ap[p * 6 + oh * 3 + ow] == doctest::Approx(s / 4).epsilon(1e-12));
      }
  }
  CHECK(nn::Flatten()(img).shape() == Shape{2, 72});
  CHECK_THROWS_AS(lin(random_tensor({4, 6}, 1)), Error);
}

TEST_CASE("nn: option-A shortcut subsamples and zero-pads channels on both sides") {
  nn::ZeroPadShortcut sc(2, 6, 2);
  const Tensor x = random_tensor({2, 2, 5, 4}, 8);
  const Tensor y = sc(x);
  REQUIRE(y.shape() == Shape{2, 6, 3, 2});
  const auto xv = values(x), yv = values(y);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 6; ++c)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 2; ++w) {
          const double expected =
              (c >= 2 && c < 4) ? xv[((n * 2 + (c - 2)) * 5 + 2 * h) * 4 + 2 * w] : 0.0;
          CHECK(yv[((n * 6 + c) * 3 + h) * 2 + w] == expected);
        }
}

TEST_CASE("nn: Dropout is identity in eval and inverted-scaled in training") {
  Generator gen(3);
  nn::Dropout drop(0.25, gen);
  const Tensor x = random_tensor({64, 16}, 5);
  drop.eval();
  CHECK(values(drop(x)) == values(x));
  drop.train();
  const auto y = values(drop(x)), xv = values(x);
  int zeros_seen = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0.0) ++zeros_seen;
    else CHECK(y[i] == doctest::Approx(xv[i] / 0.75).epsilon(1e-12));
  }
  CHECK(zeros_seen > 150);  // about 256 of 1024
  CHECK(zeros_seen < 360);
}

TEST_CASE("nn: init is Kaiming-normal fan_out for conv, PyTorch uniform for Linear, seeded") {
  Generator gen(42);
  nn::Conv2dOptions opts;
  opts.bias = false;
  nn::Conv2d conv(64, 64, 3, opts, gen);
  const auto w = values(conv.weight);
  double mean = 0, sq = 0;
  for (double v : w) mean += v;
  mean /= w.size();
  for (double v : w) sq += (v - mean) * (v - mean);
  const double std_dev = std::sqrt(sq / w.size());
  CHECK(std::fabs(mean) < 0.002);
  CHECK(std_dev == doctest::Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.03));

  nn::Linear lin(100, 50, true, gen);
  const double bound = 0.1;
  double wmax = 0, bmax = 0;
  for (double v : values(lin.weight)) wmax = std::max(wmax, std::fabs(v));
  for (double v : values(lin.bias)) bmax = std::max(bmax, std::fabs(v));
  CHECK(wmax <= bound);
  CHECK(wmax > 0.95 * bound);
  CHECK(bmax <= bound);
  CHECK(bmax > 0.5 * bound);

  Generator a(7), b(7), c(8);
  nn::Conv2d ca(3, 4, 3, {}, a), cb(3, 4, 3, {}, b), cc(3, 4, 3, {}, c);
  CHECK(values(ca.weight) == values(cb.weight));
  CHECK(values(ca.weight) != values(cc.weight));
  CHECK(values(ca.bias) == std::vector<double>(4, 0.0));
}
