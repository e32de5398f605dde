// Initialisers for nn/ layers; random fills go through the Generator's Philox
// stream on the tensor's own device, so CPU and CUDA models built from one seed agree.
#include "nn/init.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"

namespace basin::nn::init {

int64_t fan_in(const Tensor& weight) {
  BASIN_CHECK(weight.dim() >= 2, "init: fan of a weight needs >= 2 dims, got ", weight.str());
  return weight.numel() / weight.size(0);
}

int64_t fan_out(const Tensor& weight) {
  BASIN_CHECK(weight.dim() >= 2, "init: fan of a weight needs >= 2 dims, got ", weight.str());
  return weight.numel() / weight.size(1);
}

void normal_(Tensor& t, double std, Generator& gen) {
  NoGrad no_grad;
  t.copy_(randn(t.shape(), gen, t.dtype(), t.device()).mul_(std));
}

void uniform_(Tensor& t, double lo, double hi, Generator& gen) {
  NoGrad no_grad;
  Tensor u = rand(t.shape(), gen, t.dtype(), t.device());  // [0, 1)
  t.copy_(u.mul_(hi - lo).add_(full(t.shape(), lo, t.dtype(), t.device())));
}

void kaiming_normal_fan_out_(Tensor& weight, Generator& gen) {
  normal_(weight, std::sqrt(2.0 / static_cast<double>(fan_out(weight))), gen);
}

void linear_default_(Tensor& t, int64_t fan_in_value, Generator& gen) {
  BASIN_CHECK(fan_in_value > 0, "init: fan_in must be positive, got ", fan_in_value);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in_value));
  uniform_(t, -bound, bound, gen);
}

}  // namespace basin::nn::init
