// ResNet construction (stage widths, strides, block choice) and forward.
#include "nn/resnet.h"

#include <cmath>

#include "core/error.h"
#include "core/ops.h"

namespace basin::nn {

namespace {
int64_t scaled(int64_t channels, double width) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(channels) * width));
}
}  // namespace

ResNet::ResNet(const ResNetConfig& cfg, Generator& gen) : config(cfg) {
  BASIN_CHECK(!cfg.blocks_per_stage.empty() &&
                  cfg.blocks_per_stage.size() == cfg.stage_planes.size(),
              "ResNet: blocks_per_stage and stage_planes must be non-empty and equally long");
  BASIN_CHECK(cfg.num_classes > 0 && cfg.in_channels > 0 && cfg.width > 0,
              "ResNet: invalid num_classes=", cfg.num_classes, " in_channels=", cfg.in_channels,
              " width=", cfg.width);
  const int expansion = cfg.block == BlockKind::Bottleneck ? Bottleneck::expansion : 1;
  int64_t in_planes = scaled(cfg.stage_planes[0], cfg.width);
  Conv2dOptions stem;
  stem.padding = 1;
  stem.bias = false;
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(cfg.in_channels, in_planes, 3, stem, gen));
  if (cfg.block != BlockKind::PreAct)
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  for (size_t s = 0; s < cfg.stage_planes.size(); ++s) {
    BASIN_CHECK(cfg.blocks_per_stage[s] > 0, "ResNet: stage ", s + 1, " has no blocks");
    const int64_t planes = scaled(cfg.stage_planes[s], cfg.width);
    auto stage = std::make_shared<Sequential>();
    for (int b = 0; b < cfg.blocks_per_stage[s]; ++b) {
      const int stride = (s > 0 && b == 0) ? 2 : 1;
      switch (cfg.block) {
        case BlockKind::Basic:
          stage->add(std::make_shared<BasicBlock>(in_planes, planes, stride, cfg.shortcut, gen));
          break;
        case BlockKind::Bottleneck:
          stage->add(std::make_shared<Bottleneck>(in_planes, planes, stride, gen));
          break;
        case BlockKind::PreAct:
          stage->add(std::make_shared<PreActBlock>(in_planes, planes, stride, gen));
          break;
      }
      in_planes = planes * expansion;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  linear = register_module("linear", std::make_shared<Linear>(in_planes, cfg.num_classes, true, gen));
}

Tensor ResNet::features(const Tensor& x) {
  BASIN_CHECK(x.dim() == 4 && x.size(1) == config.in_channels, "ResNet: input must be [N, ",
              config.in_channels, ", H, W], got ", x.str());
  Tensor out = (*conv1)(x);
  if (bn1) out = bn1->forward_relu(out);
  for (auto& stage : layers) out = (*stage)(out);
  return global_avg_pool2d(out);
}

Tensor ResNet::forward(const Tensor& x) { return (*linear)(features(x)); }

}  // namespace basin::nn
