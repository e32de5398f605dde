// Forward passes of the residual blocks; constructors register children in
// PyTorch's order so named_parameters() matches a PyTorch state_dict.
#include "nn/blocks.h"

#include "core/error.h"
#include "core/ops.h"

namespace basin::nn {

namespace {
Conv2dOptions conv_opts(int stride, int padding) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.bias = false;
  return o;
}

std::shared_ptr<Sequential> projection(int64_t in, int64_t out, int stride, bool with_bn,
                                       Generator& gen) {
  auto seq = std::make_shared<Sequential>();
  seq->add(std::make_shared<Conv2d>(in, out, 1, conv_opts(stride, 0), gen));
  if (with_bn) seq->add(std::make_shared<BatchNorm2d>(out));
  return seq;
}
}  // namespace

ZeroPadShortcut::ZeroPadShortcut(int64_t in, int64_t out, int s)
    : in_channels(in), out_channels(out), stride(s) {
  BASIN_CHECK(out >= in && (s == 1 || s == 2), "ZeroPadShortcut: needs out >= in and stride 1 or 2,"
              " got in=", in, " out=", out, " stride=", s);
}

Tensor ZeroPadShortcut::forward(const Tensor& x) {
  BASIN_CHECK(x.dim() == 4 && x.size(1) == in_channels, "ZeroPadShortcut: input must be [N, ",
              in_channels, ", H, W], got ", x.str());
  Tensor sub = x;
  if (stride != 1) {
    Pool2dParams p;
    p.kernel_h = p.kernel_w = 1;
    p.stride_h = p.stride_w = stride;
    sub = max_pool2d(x, p);
  }
  if (out_channels == in_channels) return sub;
  const int64_t before = (out_channels - in_channels) / 2;
  const int64_t after = out_channels - in_channels - before;
  const int64_t n = sub.size(0), h = sub.size(2), w = sub.size(3);
  std::vector<Tensor> parts;
  if (before > 0) parts.push_back(zeros({n, before, h, w}, sub.dtype(), sub.device()));
  parts.push_back(sub);
  if (after > 0) parts.push_back(zeros({n, after, h, w}, sub.dtype(), sub.device()));
  return concat(parts, 1);
}

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int stride, ShortcutKind kind,
                       Generator& gen) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 3,
                                                             conv_opts(stride, 1), gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2",
                          std::make_shared<Conv2d>(planes, planes, 3, conv_opts(1, 1), gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  const bool reshape = stride != 1 || in_planes != planes;
  if (reshape && kind == ShortcutKind::ZeroPad)
    shortcut = std::make_shared<ZeroPadShortcut>(in_planes, planes, stride);
  else if (reshape)
    shortcut = projection(in_planes, planes, stride, true, gen);
  else
    shortcut = std::make_shared<Sequential>();
  register_module("shortcut", shortcut);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu((*conv1)(x));
  out = (*bn2)((*conv2)(out));
  return relu(add(out, (*shortcut)(x)));
}

Bottleneck::Bottleneck(int64_t in_planes, int64_t planes, int stride, Generator& gen) {
  const int64_t out_planes = expansion * planes;
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_planes, planes, 1, conv_opts(1, 0), gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3,
                                                             conv_opts(stride, 1), gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3 = register_module("conv3",
                          std::make_shared<Conv2d>(planes, out_planes, 1, conv_opts(1, 0), gen));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out_planes));
  shortcut = (stride != 1 || in_planes != out_planes)
                 ? projection(in_planes, out_planes, stride, true, gen)
                 : std::make_shared<Sequential>();
  register_module("shortcut", shortcut);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu((*conv1)(x));
  out = bn2->forward_relu((*conv2)(out));
  out = (*bn3)((*conv3)(out));
  return relu(add(out, (*shortcut)(x)));
}

PreActBlock::PreActBlock(int64_t in_planes, int64_t planes, int stride, Generator& gen) {
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 3,
                                                             conv_opts(stride, 1), gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2",
                          std::make_shared<Conv2d>(planes, planes, 3, conv_opts(1, 1), gen));
  if (stride != 1 || in_planes != planes)
    shortcut = register_module("shortcut", projection(in_planes, planes, stride, false, gen));
}

Tensor PreActBlock::forward(const Tensor& x) {
  Tensor pre = bn1->forward_relu(x);
  Tensor skip = shortcut ? (*shortcut)(pre) : x;
  Tensor out = (*conv1)(pre);
  out = (*conv2)(bn2->forward_relu(out));
  return add(out, skip);
}

}  // namespace basin::nn
