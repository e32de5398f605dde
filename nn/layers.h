// The basic layers: Conv2d, Linear, ReLU, pooling, Flatten, Dropout. Each reads
// its parameters from its member slots on every forward (an optimizer may have
// rebound them to views into its arena). Built as f32 on the CPU; Module::to moves them.
#pragma once
#include "core/backend.h"
#include "core/rng.h"
#include "nn/module.h"

namespace basin::nn {

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;
  bool bias = true;
};

// weight [out, in, k, k], optional bias [out]; weights Kaiming-normal (fan_out), bias 0.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, Conv2dOptions options = {},
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator& gen) override;
  std::string type_name() const override { return "Conv2d"; }

  Tensor weight;
  Tensor bias;  // undefined when options.bias is false
  int64_t in_channels, out_channels;
  int kernel_size;
  Conv2dOptions options;
};

// y = x W^T + b; weight [out, in], bias [out]; PyTorch's default uniform init.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator& gen) override;
  std::string type_name() const override { return "Linear"; }

  Tensor weight;
  Tensor bias;
  int64_t in_features, out_features;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel_size, int stride = -1, int padding = 0);  // stride -1: = kernel
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  Pool2dParams params;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int kernel_size, int stride = -1, int padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  Pool2dParams params;
};

// Output size 1 only: [N, C, H, W] -> [N, C, 1, 1], whatever H and W.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(int output_size = 1);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
};

// [N, ...] -> [N, prod(...)]
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
};

// Inverted dropout in training mode, identity in eval. Masks come from `gen`,
// which must outlive the layer.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  double p;

 private:
  Generator* gen_;
};

}  // namespace basin::nn
