// Operand checks shared by the optimizer-arena kernels (arena.cu, perturb.cu).
#pragma once
#include "core/tensor.h"

namespace basin::cuda {

// Arena operands share w's layout: f32, contiguous, same element count; undefined -> nullptr.
float* arena_operand(const Tensor& t, const Tensor& w, const char* op, const char* operand);
// A 0-d operand (squared norm, count, skip flag): one f32 element; undefined -> nullptr.
float* arena_scalar(const Tensor& t, const char* op, const char* operand);
// A per-step value of a captured step (lr, s(t)): an f64 tensor of one element; undefined -> nullptr.
const double* step_value(const Tensor& t, const char* op, const char* operand);

}  // namespace basin::cuda
