// The CIFAR ResNet family: a 3x3 stride-1 stem (no max-pool), residual stages,
// global average pooling and a linear classifier. One class covers ResNet-18/34
// (BasicBlock), ResNet-50 (Bottleneck), ResNet-20/32/56 (BasicBlock, option-A
// shortcuts, 16/32/64) and PreAct ResNet-18; names match PyTorch CIFAR code.
#pragma once
#include <memory>
#include <vector>

#include "nn/blocks.h"

namespace basin::nn {

enum class BlockKind { Basic, Bottleneck, PreAct };

struct ResNetConfig {
  BlockKind block = BlockKind::Basic;
  std::vector<int> blocks_per_stage;  // e.g. {2, 2, 2, 2}
  std::vector<int64_t> stage_planes;  // before the width multiplier, e.g. {64, 128, 256, 512}
  ShortcutKind shortcut = ShortcutKind::Projection;  // Basic blocks only
  int64_t num_classes = 10;
  int64_t in_channels = 3;
  double width = 1.0;  // multiplies every channel count (stem included); at least 1 channel
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& config, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;  // [N, in, H, W] -> logits [N, classes]
  // Everything up to and including global pooling: [N, features].
  Tensor features(const Tensor& x);
  std::string type_name() const override { return "ResNet"; }

  ResNetConfig config;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;  // null for PreAct (its blocks normalise first)
  std::vector<std::shared_ptr<Sequential>> layers;  // layer1, layer2, ...
  std::shared_ptr<Linear> linear;
};

}  // namespace basin::nn
