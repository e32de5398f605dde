// Finite-difference gradient checks (f64) of every layer and block and of a
// tiny ResNet, with respect to the input AND the parameters: parameters are
// passed to the checker as inputs and rebound into the module on every call.
#include <doctest/doctest.h>

#include <set>

#include "core/autograd.h"
#include "gradcheck.h"
#include "nn/blocks.h"
#include "nn/layers.h"
#include "nn/models.h"

using namespace basin;
using basin::testing::check_gradients;
using basin::testing::random_tensor;

namespace {

// Gradient check of `module` at a random input of `input_shape`, w.r.t. the
// input and the parameters named in `only` (all parameters when empty).
void check_module(nn::Module& module, const Shape& input_shape,
                  const std::set<std::string>& only = {}, bool check_input = true) {
  module.to(DType::F64);
  std::vector<Tensor*> slots;
  std::vector<Tensor> inputs{random_tensor(input_shape, 77)};
  if (check_input) inputs[0].requires_grad_(true);
  uint32_t seed = 100;
  for (auto& [name, slot] : module.named_parameters()) {
    if (!only.empty() && !only.count(name)) continue;
    // A fresh copy (moved away from zero) so rebinding is really exercised.
    Tensor copy = slot->detach().clone();
    { NoGrad ng; copy.add_(random_tensor(copy.shape(), seed++), 0.1); }
    copy.requires_grad_(true);
    slots.push_back(slot);
    inputs.push_back(copy);
  }
  REQUIRE(slots.size() == (only.empty() ? module.named_parameters().size() : only.size()));
  auto f = [&](const std::vector<Tensor>& xs) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = xs[i + 1];
    return module(xs[0]);
  };
  check_gradients(f, inputs);
}

nn::Conv2dOptions opts(int stride, int padding, bool bias) {
  nn::Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.bias = bias;
  return o;
}

}  // namespace

TEST_CASE("nn: gradcheck Conv2d (stride 2, padding 1, bias)") {
  Generator gen(1);
  nn::Conv2d conv(3, 4, 3, opts(2, 1, true), gen);
  check_module(conv, {2, 3, 5, 6});
}

TEST_CASE("nn: gradcheck Conv2d 1x1 without bias") {
  Generator gen(2);
  nn::Conv2d conv(3, 2, 1, opts(1, 0, false), gen);
  check_module(conv, {2, 3, 3, 3});
}

TEST_CASE("nn: gradcheck Linear") {
  Generator gen(3);
  nn::Linear lin(5, 3, true, gen);
  check_module(lin, {4, 5});
}

TEST_CASE("nn: gradcheck BatchNorm2d in training mode, 4-D and 2-D") {
  nn::BatchNorm2d bn(3);
  check_module(bn, {4, 3, 2, 3});
  nn::BatchNorm2d bn2(4);
  check_module(bn2, {5, 4});
}

TEST_CASE("nn: gradcheck BasicBlock with projection shortcut") {
  Generator gen(4);
  nn::BasicBlock block(3, 4, 2, nn::ShortcutKind::Projection, gen);
  check_module(block, {2, 3, 5, 5});
}

TEST_CASE("nn: gradcheck BasicBlock with option-A shortcut and identity") {
  Generator gen(5);
  nn::BasicBlock down(2, 4, 2, nn::ShortcutKind::ZeroPad, gen);
  check_module(down, {2, 2, 4, 4});
  nn::BasicBlock same(3, 3, 1, nn::ShortcutKind::ZeroPad, gen);
  check_module(same, {2, 3, 3, 3});
}

TEST_CASE("nn: gradcheck Bottleneck") {
  Generator gen(6);
  nn::Bottleneck block(4, 2, 2, gen);  // 4 -> 8 channels, projection shortcut
  check_module(block, {2, 4, 4, 4});
}

TEST_CASE("nn: gradcheck PreActBlock") {
  Generator gen(7);
  nn::PreActBlock down(3, 4, 2, gen);
  check_module(down, {2, 3, 4, 4});
  nn::PreActBlock same(3, 3, 1, gen);
  check_module(same, {2, 3, 3, 3});
}

// Parameters along the whole depth (stem, a projection shortcut, the last
// block, the classifier; conv weights are covered by the block checks); the input gradient is covered by the block checks.
// Batch 4: with 8x8 inputs layer4 is 1x1, and BatchNorm over only 2 values per
// channel is so curved that finite differences stop being accurate.
TEST_CASE("nn: gradcheck tiny ResNet-18 (width 1/16, input 4x3x8x8)") {
  auto model = nn::make_model("resnet18", 3, 3, 1.0 / 16, uint64_t{9});
  check_module(*model, {4, 3, 8, 8},
               {"bn1.bias", "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.bias",
                "layer4.1.bn2.weight", "linear.bias"},
               false);
}

TEST_CASE("nn: gradcheck tiny ResNet-20 with option-A shortcuts (width 1/4, input 2x3x8x8)") {
  auto model = nn::make_model("resnet20", 3, 3, 0.25, uint64_t{10});
  check_module(*model, {2, 3, 8, 8},
               {"conv1.weight", "layer2.0.bn1.weight", "layer3.2.bn2.bias", "linear.bias"}, false);
}

TEST_CASE("nn: gradcheck tiny PreAct ResNet-18 (width 1/16, input 4x3x8x8)") {
  auto model = nn::make_model("preact_resnet18", 3, 3, 1.0 / 16, uint64_t{11});
  check_module(*model, {4, 3, 8, 8},
               {"layer1.0.bn1.weight", "layer2.0.shortcut.0.weight", "layer4.1.bn1.bias",
                "linear.bias"},
               false);
}
