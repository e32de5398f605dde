// Elementwise ops with numpy-style broadcasting, and the checks every op shares.
#include <algorithm>

#include "core/ops_internal.h"

namespace basin {

using detail::binary_kernel;
using detail::scalar_kernel;
using detail::unary_kernel;

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  BASIN_CHECK(a.device() == b.device(), op, ": operands on different devices: ", a.str(), " and ",
              b.str());
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  BASIN_CHECK(a.dtype() == b.dtype(), op, ": operands of different dtypes: ", a.str(), " and ",
              b.str());
}

void check_floating(const Tensor& a, const char* op) {
  BASIN_CHECK(a.defined(), op, ": undefined tensor");
  BASIN_CHECK(is_floating(a.dtype()), op, ": expected a floating-point tensor, got ", a.str());
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    BASIN_CHECK(da == db || da == 1 || db == 1, "cannot broadcast shapes ", shape_str(a), " and ",
                shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  BASIN_CHECK(lead >= 0, "sum_to_shape: ", grad.str(), " cannot be reduced to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < grad.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && grad.shape()[i] != 1)) dims.push_back(i);
  Tensor reduced = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return reduced.reshape(shape);
}

namespace detail {

Tensor unary_kernel(UnaryOp op, const Tensor& a) {
  const Tensor x = dense(a);
  Tensor out = new_like(x);
  backend_of(x).unary(op, x, out);
  return out;
}

Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device(a, b, "binary op");
  check_same_dtype(a, b, "binary op");
  const Shape shape = broadcast_shape(a.shape(), b.shape());
  Tensor out = empty(shape, a.dtype(), a.device());
  backend_of(a).binary(op, a.detach().expand(shape), b.detach().expand(shape), out);
  return out;
}

Tensor scalar_kernel(BinaryOp op, const Tensor& a, double s) {
  const Tensor x = dense(a);
  Tensor out = new_like(x);
  backend_of(x).binary_scalar(op, x, s, out);
  return out;
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) {
    const int64_t w = d < 0 ? d + ndim : d;
    BASIN_CHECK(w >= 0 && w < ndim, op, ": dim ", d, " out of range for a ", ndim, "-d tensor");
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace detail

namespace {

// The four arithmetic ops share one shape: kernel, then a node whose closure
// computes each operand's gradient only when that operand asked for one.
Tensor arithmetic(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_floating(a, name);
  check_floating(b, name);
  Tensor out = binary_kernel(op, a, b);
  if (!any_requires_grad({a, b})) return out;
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  const Tensor ad = a.detach(), bd = b.detach();
  return record(name, out, {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::Add:
        if (need_a) ga = g;
        if (need_b) gb = g;
        break;
      case BinaryOp::Sub:
        if (need_a) ga = g;
        if (need_b) gb = neg(g);
        break;
      case BinaryOp::Mul:
        if (need_a) ga = mul(g, bd);
        if (need_b) gb = mul(g, ad);
        break;
      default:  // Div
        if (need_a) ga = div(g, bd);
        if (need_b) gb = neg(div(mul(g, ad), mul(bd, bd)));
        break;
    }
    return std::vector<Tensor>{ga.defined() ? sum_to_shape(ga, ad.shape()) : ga,
                               gb.defined() ? sum_to_shape(gb, bd.shape()) : gb};
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::Add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::Sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::Mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return arithmetic(BinaryOp::Div, "div", a, b); }

Tensor add(const Tensor& a, double s) {
  check_floating(a, "add");
  return record("add_scalar", scalar_kernel(BinaryOp::Add, a, s), {a},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, double s) {
  check_floating(a, "mul");
  return record("mul_scalar", scalar_kernel(BinaryOp::Mul, a, s), {a},
                [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
}

Tensor neg(const Tensor& a) {
  check_floating(a, "neg");
  return record("neg", unary_kernel(UnaryOp::Neg, a), {a},
                [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& a) {
  check_floating(a, "exp");
  Tensor y = unary_kernel(UnaryOp::Exp, a);
  const Tensor yd = y.detach();
  return record("exp", y, {a}, [yd](const Tensor& g) { return std::vector<Tensor>{mul(g, yd)}; });
}

Tensor log(const Tensor& a) {
  check_floating(a, "log");
  const Tensor ad = a.detach();
  return record("log", unary_kernel(UnaryOp::Log, a), {a},
                [ad](const Tensor& g) { return std::vector<Tensor>{div(g, ad)}; });
}

Tensor sqrt(const Tensor& a) {
  check_floating(a, "sqrt");
  Tensor y = unary_kernel(UnaryOp::Sqrt, a);
  const Tensor yd = y.detach();
  return record("sqrt", y, {a},
                [yd](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), yd)}; });
}

Tensor square(const Tensor& a) {
  check_floating(a, "square");
  const Tensor ad = a.detach();
  return record("square", unary_kernel(UnaryOp::Square, a), {a},
                [ad](const Tensor& g) { return std::vector<Tensor>{mul(mul(g, ad), 2.0)}; });
}

// The backward keeps the output, not the input: y > 0 exactly where a > 0
// (NaN and -0 included), and the output is usually saved anyway by the layer
// it feeds, so the input (a BatchNorm output, a residual sum) can be freed
// as soon as the forward pass moves on.
Tensor relu(const Tensor& a) {
  check_floating(a, "relu");
  Tensor y = unary_kernel(UnaryOp::Relu, a);
  const Tensor yd = y.detach();
  return record("relu", y, {a}, [yd](const Tensor& g) {
    return std::vector<Tensor>{binary_kernel(BinaryOp::ReluGrad, g, yd)};
  });
}

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) { return binary_kernel(op, a, b); }
Tensor compare(BinaryOp op, const Tensor& a, double s) { return scalar_kernel(op, a, s); }

}  // namespace basin
