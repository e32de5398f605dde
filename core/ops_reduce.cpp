// Reductions: sum / mean over all or some dims, max, argmax, top-k, dot.
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

namespace {

// Sum over `dims` (normalised, sorted) keeping them as size-1 dims; one
// sum_dim launch per reduced dim, last dim first so the others stay valid.
Tensor sum_keepdim_kernel(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor x = dense(a);
  if (dims.empty()) return x.clone();  // never hand out a view of the input as a result
  Shape shape = x.shape();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    const int64_t d = *it;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < d; ++i) outer *= shape[i];
    for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
    const int64_t n = shape[d];
    shape[d] = 1;
    Tensor out = empty(shape, x.dtype(), x.device());
    backend_of(x).sum_dim(x, outer, n, inner, out);
    x = out;
  }
  return x;
}

Shape drop_dims(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i)
    if (std::find(dims.begin(), dims.end(), i) == dims.end()) out.push_back(shape[i]);
  return out;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_floating(a, "sum");
  const std::vector<int64_t> dims = detail::normalize_dims(dims_in, a.dim(), "sum");
  Tensor out = sum_keepdim_kernel(a, dims);
  Shape kept = out.shape();
  if (!keepdim) out = out.detach().view(drop_dims(a.shape(), dims));
  const Shape input_shape = a.shape();
  return record("sum", out, {a}, [input_shape, kept](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(kept).expand(input_shape)};
  });
}

Tensor sum(const Tensor& a) {
  check_floating(a, "sum");
  std::vector<int64_t> all(static_cast<size_t>(a.dim()));
  for (int64_t i = 0; i < a.dim(); ++i) all[i] = i;
  return sum(a, all, /*keepdim=*/false);
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = detail::normalize_dims(dims_in, a.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= a.shape()[d];
  BASIN_CHECK(count > 0, "mean over an empty set of elements of ", a.str());
  return mul(sum(a, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& a) {
  BASIN_CHECK(a.numel() > 0, "mean of the empty tensor ", a.str());
  return mul(sum(a), 1.0 / static_cast<double>(a.numel()));
}

Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  check_floating(a, "max");
  const int64_t d = detail::normalize_dims({dim}, a.dim(), "max")[0];
  const Tensor x = dense(a);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= a.shape()[i];
  for (int64_t i = d + 1; i < a.dim(); ++i) inner *= a.shape()[i];
  BASIN_CHECK(a.shape()[d] > 0, "max over an empty dim of ", a.str());
  Shape shape = a.shape();
  shape[d] = 1;
  Tensor out = empty(shape, a.dtype(), a.device());
  backend_of(x).max_dim(x, outer, a.shape()[d], inner, out);
  return keepdim ? out : out.view(drop_dims(a.shape(), {d}));
}

Tensor argmax(const Tensor& a, int64_t dim) {
  check_floating(a, "argmax");
  BASIN_CHECK(a.dim() == 2 && (dim == 1 || dim == -1), "argmax: supports a 2-D tensor along dim 1, got ",
              a.str(), " dim ", dim);
  BASIN_CHECK(a.shape()[1] > 0, "argmax: no columns in ", a.str());
  Tensor out = empty({a.shape()[0]}, DType::I64, a.device());
  backend_of(a).argmax_rows(dense(a), out);
  return out;
}

TopK topk(const Tensor& a, int64_t k) {
  check_floating(a, "topk");
  BASIN_CHECK(a.dim() == 2, "topk: expected a 2-D tensor, got ", a.str());
  BASIN_CHECK(k >= 1 && k <= a.shape()[1], "topk: k = ", k, " out of range for ", a.str());
  TopK out{empty({a.shape()[0], k}, a.dtype(), a.device()),
           empty({a.shape()[0], k}, DType::I64, a.device())};
  backend_of(a).topk_rows(dense(a), k, out.values, out.indices);
  return out;
}

double dot_value(const Tensor& a, const Tensor& b) { return dot(a, b).item(); }

Tensor dot(const Tensor& a, const Tensor& b) {
  check_floating(a, "dot");
  check_same_device(a, b, "dot");
  check_same_dtype(a, b, "dot");
  BASIN_CHECK(a.numel() == b.numel(), "dot: ", a.str(), " and ", b.str(), " differ in size");
  Tensor out = empty({}, a.dtype(), a.device());
  backend_of(a).dot(dense(a), dense(b), out);
  return out;
}

}  // namespace basin
