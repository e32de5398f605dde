// Parameter initialisation, all drawn from a basin::Generator so one seed fixes
// a model: Kaiming-normal (fan_out, gain sqrt(2)) for convolutions, PyTorch's
// default uniform for Linear, ones/zeros for BatchNorm.
#pragma once
#include "core/rng.h"
#include "core/tensor.h"

namespace basin::nn::init {

// Fan of a weight [out, in, kh, kw] or [out, in]: in*kh*kw and out*kh*kw.
int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

// In place, never recorded. The tensor keeps its dtype and device.
void normal_(Tensor& t, double std, Generator& gen);
void uniform_(Tensor& t, double lo, double hi, Generator& gen);
// N(0, 2 / fan_out): He et al. 2015, mode fan_out, ReLU gain.
void kaiming_normal_fan_out_(Tensor& weight, Generator& gen);
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for `t` (a weight or its bias).
void linear_default_(Tensor& t, int64_t fan_in, Generator& gen);

}  // namespace basin::nn::init
