// Convolution and pooling front-ends (NCHW).
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  check_floating(x, "conv2d");
  check_same_device(x, weight, "conv2d");
  check_same_dtype(x, weight, "conv2d");
  BASIN_CHECK(x.dim() == 4 && weight.dim() == 4, "conv2d: expected input [N,C,H,W] and weight "
              "[Cout,Cin,KH,KW], got ", x.str(), " and ", weight.str());
  BASIN_CHECK(x.shape()[1] == weight.shape()[1], "conv2d: input ", x.str(), " has ", x.shape()[1],
              " channels but weight ", weight.str(), " expects ", weight.shape()[1]);
  BASIN_CHECK(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 &&
                  p.pad_h >= 0 && p.pad_w >= 0,
              "conv2d: stride and dilation must be positive, padding non-negative");
  const int64_t oh = window_out_size(x.shape()[2], weight.shape()[2], p.stride_h, p.pad_h, p.dilation_h);
  const int64_t ow = window_out_size(x.shape()[3], weight.shape()[3], p.stride_w, p.pad_w, p.dilation_w);
  BASIN_CHECK(oh > 0 && ow > 0, "conv2d: kernel ", weight.str(), " does not fit input ", x.str());
  if (bias.defined()) {
    check_same_device(x, bias, "conv2d");
    check_same_dtype(x, bias, "conv2d");
    BASIN_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "conv2d: bias ",
                bias.str(), " does not match weight ", weight.str());
  }
  const Tensor xd = dense(x), wd = dense(weight);
  const Tensor bd = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty({x.shape()[0], weight.shape()[0], oh, ow}, x.dtype(), x.device());
  backend_of(x).conv2d_forward(xd, wd, bd, y, p);
  if (!any_requires_grad({x, weight, bias})) return y;
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  return record("conv2d", y, {x, weight, bias}, [=](const Tensor& g) {
    const Tensor gd = dense(g);
    Tensor gx, gw, gb;
    if (need_x) {
      gx = detail::new_like(xd);
      backend_of(gd).conv2d_backward_input(gd, wd, gx, p);
    }
    if (need_w) {
      gw = detail::new_like(wd);
      backend_of(gd).conv2d_backward_weight(gd, xd, gw, p);
    }
    if (need_b) gb = sum(gd, {0, 2, 3});
    return std::vector<Tensor>{gx, gw, gb};
  });
}

namespace {

Shape pooled_shape(const Tensor& x, const Pool2dParams& p, const char* op) {
  check_floating(x, op);
  BASIN_CHECK(x.dim() == 4, op, ": expected [N,C,H,W], got ", x.str());
  BASIN_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
              op, ": kernel and stride must be positive");
  BASIN_CHECK(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,
              ": padding must be at most half the kernel");
  const int64_t oh = window_out_size(x.shape()[2], p.kernel_h, p.stride_h, p.pad_h);
  const int64_t ow = window_out_size(x.shape()[3], p.kernel_w, p.stride_w, p.pad_w);
  BASIN_CHECK(oh > 0 && ow > 0, op, ": window does not fit input ", x.str());
  return {x.shape()[0], x.shape()[1], oh, ow};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  const Shape shape = pooled_shape(x, p, "max_pool2d");
  const Tensor xd = dense(x);
  Tensor y = empty(shape, x.dtype(), x.device());
  Tensor indices = empty(shape, DType::I32, x.device());
  backend_of(x).max_pool2d_forward(xd, y, indices, p);
  const Shape input_shape = x.shape();
  return record("max_pool2d", y, {x}, [indices, input_shape](const Tensor& g) {
    Tensor gx = empty(input_shape, g.dtype(), g.device());
    backend_of(g).max_pool2d_backward(dense(g), indices, gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  const Shape shape = pooled_shape(x, p, "avg_pool2d");
  Tensor y = empty(shape, x.dtype(), x.device());
  backend_of(x).avg_pool2d_forward(dense(x), y, p);
  const Shape input_shape = x.shape();
  return record("avg_pool2d", y, {x}, [p, input_shape](const Tensor& g) {
    Tensor gx = empty(input_shape, g.dtype(), g.device());
    backend_of(g).avg_pool2d_backward(dense(g), gx, p);
    return std::vector<Tensor>{gx};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_floating(x, "global_avg_pool2d");
  BASIN_CHECK(x.dim() == 4, "global_avg_pool2d: expected [N,C,H,W], got ", x.str());
  return mean(x, {2, 3});
}

}  // namespace basin
