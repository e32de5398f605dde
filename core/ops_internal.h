// Helpers shared by the core/ops_*.cpp files: run a backend kernel into a fresh
// output without recording anything. Not part of the public API.
#pragma once
#include <algorithm>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::detail {

inline Tensor new_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

// Kernels take contiguous inputs; this is the cheapest way to get one.
inline Tensor dense(const Tensor& t) { return t.detach().contiguous(); }

Tensor unary_kernel(UnaryOp op, const Tensor& a);
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b);  // broadcasting
Tensor scalar_kernel(BinaryOp op, const Tensor& a, double s);

// Dims normalised to [0, ndim), sorted, unique; throws naming the op.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace basin::detail
