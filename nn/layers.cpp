// Conv2d, Linear, activation, pooling, Flatten and Dropout over the op front-end.
#include "nn/layers.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/init.h"

namespace basin::nn {

Conv2d::Conv2d(int64_t in_ch, int64_t out_ch, int kernel, Conv2dOptions opts, Generator& gen)
    : in_channels(in_ch), out_channels(out_ch), kernel_size(kernel), options(opts) {
  BASIN_CHECK(in_ch > 0 && out_ch > 0 && kernel > 0 && opts.stride > 0 && opts.padding >= 0,
              "Conv2d: invalid configuration in=", in_ch, " out=", out_ch, " kernel=", kernel,
              " stride=", opts.stride, " padding=", opts.padding);
  weight = empty({out_ch, in_ch, kernel, kernel});
  register_parameter("weight", weight);
  if (opts.bias) {
    bias = zeros({out_ch});
    register_parameter("bias", bias);
  }
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator& gen) {
  init::kaiming_normal_fan_out_(weight, gen);
  NoGrad no_grad;
  if (bias.defined()) bias.zero_();
}

Tensor Conv2d::forward(const Tensor& x) {
  BASIN_CHECK(x.dim() == 4 && x.size(1) == in_channels, "Conv2d(", in_channels, "->",
              out_channels, "): input must be [N, ", in_channels, ", H, W], got ", x.str());
  Conv2dParams p;
  p.stride_h = p.stride_w = options.stride;
  p.pad_h = p.pad_w = options.padding;
  return conv2d(x, weight, bias, p);
}

Linear::Linear(int64_t in_f, int64_t out_f, bool with_bias, Generator& gen)
    : in_features(in_f), out_features(out_f) {
  BASIN_CHECK(in_f > 0 && out_f > 0, "Linear: invalid sizes in=", in_f, " out=", out_f);
  weight = empty({out_f, in_f});
  register_parameter("weight", weight);
  if (with_bias) {
    bias = empty({out_f});
    register_parameter("bias", bias);
  }
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator& gen) {
  init::linear_default_(weight, in_features, gen);
  if (bias.defined()) init::linear_default_(bias, in_features, gen);
}

Tensor Linear::forward(const Tensor& x) {
  BASIN_CHECK(x.dim() == 2 && x.size(1) == in_features, "Linear(", in_features, "->",
              out_features, "): input must be [N, ", in_features, "], got ", x.str());
  return linear(x, weight, bias);
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

namespace {
Pool2dParams pool_params(const char* layer, int kernel, int stride, int padding) {
  if (stride < 0) stride = kernel;
  BASIN_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel, layer,
              ": invalid kernel=", kernel, " stride=", stride, " padding=", padding);
  Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  return p;
}
}  // namespace

MaxPool2d::MaxPool2d(int kernel, int stride, int padding)
    : params(pool_params("MaxPool2d", kernel, stride, padding)) {}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

AvgPool2d::AvgPool2d(int kernel, int stride, int padding)
    : params(pool_params("AvgPool2d", kernel, stride, padding)) {}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int output_size) {
  BASIN_CHECK(output_size == 1, "AdaptiveAvgPool2d: only output size 1 is supported, got ",
              output_size);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  BASIN_CHECK(x.dim() == 4, "AdaptiveAvgPool2d: input must be [N, C, H, W], got ", x.str());
  return global_avg_pool2d(x).reshape({x.size(0), x.size(1), 1, 1});
}

Tensor Flatten::forward(const Tensor& x) {
  BASIN_CHECK(x.dim() >= 1, "Flatten: input must have a batch dim, got ", x.str());
  return x.dim() == 1 ? x.unsqueeze(1) : x.flatten(1);
}

Dropout::Dropout(double prob, Generator& gen) : p(prob), gen_(&gen) {
  BASIN_CHECK(prob >= 0.0 && prob < 1.0, "Dropout: p must be in [0, 1), got ", prob);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), *gen_); }

}  // namespace basin::nn
