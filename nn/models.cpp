// The named configurations of the ResNet family.
#include "nn/models.h"

#include "core/error.h"

namespace basin::nn {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50", "resnet20",
                                                 "resnet32", "resnet56", "preact_resnet18"};
  return names;
}

ResNetConfig model_config(const std::string& name, int64_t num_classes, int64_t in_channels,
                          double width) {
  ResNetConfig c;
  c.num_classes = num_classes;
  c.in_channels = in_channels;
  c.width = width;
  const std::vector<int64_t> wide = {64, 128, 256, 512}, thin = {16, 32, 64};
  if (name == "resnet18") {
    c.blocks_per_stage = {2, 2, 2, 2};
    c.stage_planes = wide;
  } else if (name == "resnet34") {
    c.blocks_per_stage = {3, 4, 6, 3};
    c.stage_planes = wide;
  } else if (name == "resnet50") {
    c.block = BlockKind::Bottleneck;
    c.blocks_per_stage = {3, 4, 6, 3};
    c.stage_planes = wide;
  } else if (name == "preact_resnet18") {
    c.block = BlockKind::PreAct;
    c.blocks_per_stage = {2, 2, 2, 2};
    c.stage_planes = wide;
  } else if (name == "resnet20" || name == "resnet32" || name == "resnet56") {
    const int n = name == "resnet20" ? 3 : name == "resnet32" ? 5 : 9;
    c.blocks_per_stage = {n, n, n};
    c.stage_planes = thin;
    c.shortcut = ShortcutKind::ZeroPad;
  } else {
    std::string valid;
    for (const auto& n : model_names()) valid += (valid.empty() ? "" : ", ") + n;
    fail(cat("unknown model '", name, "'; valid names: ", valid));
  }
  return c;
}

std::shared_ptr<ResNet> make_model(const std::string& name, int64_t num_classes,
                                   int64_t in_channels, double width, Generator& gen) {
  return std::make_shared<ResNet>(model_config(name, num_classes, in_channels, width), gen);
}

std::shared_ptr<ResNet> make_model(const std::string& name, int64_t num_classes,
                                   int64_t in_channels, double width, uint64_t seed) {
  Generator gen(seed);
  return make_model(name, num_classes, in_channels, width, gen);
}

}  // namespace basin::nn
