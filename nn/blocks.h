// Residual blocks of the CIFAR ResNets: BasicBlock (ResNet-18/34 and, with the
// parameter-free option-A shortcut, ResNet-20/32/56), Bottleneck (ResNet-50)
// and PreActBlock (PreAct ResNet-18). Child names follow the PyTorch CIFAR
// ResNet scheme (conv1, bn1, ..., shortcut.0, shortcut.1), see docs/state_dict.md.
#pragma once
#include <memory>

#include "nn/batch_norm.h"
#include "nn/layers.h"

namespace basin::nn {

enum class ShortcutKind {
  Projection,  // 1x1 conv (stride) + BatchNorm when the shape changes ("option B")
  ZeroPad,     // subsample by stride 2 and zero-pad channels, no parameters ("option A")
};

// Parameter-free option-A shortcut (He et al. 2016, CIFAR): x[:, :, ::2, ::2]
// (max-pool kernel 1 stride 2) with (out-in)/2 zero channels before and the
// rest after, the layout of the widely used PyTorch CIFAR ResNet-20 code.
class ZeroPadShortcut : public Module {
 public:
  ZeroPadShortcut(int64_t in_channels, int64_t out_channels, int stride);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ZeroPadShortcut"; }
  int64_t in_channels, out_channels;
  int stride;
};

class BasicBlock : public Module {
 public:
  static constexpr int expansion = 1;
  BasicBlock(int64_t in_planes, int64_t planes, int stride,
             ShortcutKind shortcut_kind = ShortcutKind::Projection,
             Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Module> shortcut;  // Sequential (empty = identity) or ZeroPadShortcut
};

class Bottleneck : public Module {
 public:
  static constexpr int expansion = 4;
  Bottleneck(int64_t in_planes, int64_t planes, int stride, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> shortcut;  // empty = identity
};

// Pre-activation block: out = conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut,
// where a projection shortcut (1x1 conv, no BN) reads relu(bn1(x)).
class PreActBlock : public Module {
 public:
  static constexpr int expansion = 1;
  PreActBlock(int64_t in_planes, int64_t planes, int stride, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "PreActBlock"; }

  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Sequential> shortcut;  // absent (nullptr) = identity, as in PyTorch
};

}  // namespace basin::nn
