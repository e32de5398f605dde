// Model factory: a model by name, so apps and configs can say "resnet18".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/resnet.h"

namespace basin::nn {

// resnet18, resnet34, resnet50, resnet20, resnet32, resnet56, preact_resnet18
const std::vector<std::string>& model_names();

// The configuration behind a name (throws listing the valid names).
ResNetConfig model_config(const std::string& name, int64_t num_classes = 10,
                          int64_t in_channels = 3, double width = 1.0);

// Parameters drawn from `gen` (Kaiming-normal convs, PyTorch-default Linear).
std::shared_ptr<ResNet> make_model(const std::string& name, int64_t num_classes,
                                   int64_t in_channels, double width, Generator& gen);
// Same, from a fresh Generator(seed): one seed fixes the model.
std::shared_ptr<ResNet> make_model(const std::string& name, int64_t num_classes = 10,
                                   int64_t in_channels = 3, double width = 1.0,
                                   uint64_t seed = 0);

}  // namespace basin::nn
