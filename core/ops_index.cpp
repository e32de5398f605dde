// Row gathering (index_select on dim 0) and concatenation on dims 0 and 1.
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

Tensor index_select(const Tensor& a, const Tensor& indices) {
  check_same_device(a, indices, "index_select");
  BASIN_CHECK(a.dim() >= 1, "index_select: ", a.str(), " has no dim 0");
  BASIN_CHECK(indices.dtype() == DType::I64 && indices.dim() == 1, "index_select: indices ",
              indices.str(), " must be a 1-D i64 tensor");
  Shape shape = a.shape();
  shape[0] = indices.shape()[0];
  const Tensor ad = dense(a), id = dense(indices);
  Tensor out = empty(shape, a.dtype(), a.device());
  backend_of(a).index_select_rows(ad, id, out);
  const Shape input_shape = a.shape();
  return record("index_select", out, {a}, [id, input_shape](const Tensor& g) {
    Tensor gx = zeros(input_shape, g.dtype(), g.device());
    backend_of(g).index_add_rows(dense(g), id, gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  BASIN_CHECK(!parts.empty(), "concat: no tensors");
  const Tensor& first = parts[0];
  BASIN_CHECK(dim == 0 || dim == 1, "concat: supports dims 0 and 1, got ", dim);
  BASIN_CHECK(first.dim() > dim, "concat: dim ", dim, " out of range for ", first.str());
  Shape shape = first.shape();
  shape[dim] = 0;
  for (const Tensor& p : parts) {
    check_same_device(first, p, "concat");
    check_same_dtype(first, p, "concat");
    bool match = p.dim() == first.dim();
    for (int64_t i = 0; match && i < p.dim(); ++i) match = i == dim || p.shape()[i] == first.shape()[i];
    BASIN_CHECK(match, "concat: ", p.str(), " does not match ", first.str(), " outside dim ", dim);
    shape[dim] += p.shape()[dim];
  }
  Tensor out = empty(shape, first.dtype(), first.device());
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& p : parts) {
    Tensor slot = out.narrow(dim, start, p.shape()[dim]);
    backend_of(out).copy_strided(p.detach(), slot);
    starts.push_back(start);
    start += p.shape()[dim];
  }
  std::vector<int64_t> lengths;
  for (const Tensor& p : parts) lengths.push_back(p.shape()[dim]);
  return record("concat", out, parts, [dim, starts, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(g.narrow(dim, starts[i], lengths[i]));
    return grads;
  });
}

}  // namespace basin
