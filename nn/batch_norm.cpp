// BatchNorm2d over basin::batch_norm, and the thread-local freeze flag.
#include "nn/batch_norm.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::nn {

namespace {
thread_local bool g_freeze_bn_stats = false;
}

FreezeBatchNormStats::FreezeBatchNormStats() : previous_(g_freeze_bn_stats) {
  g_freeze_bn_stats = true;
}
FreezeBatchNormStats::~FreezeBatchNormStats() { g_freeze_bn_stats = previous_; }
bool FreezeBatchNormStats::active() { return g_freeze_bn_stats; }

BatchNorm2d::BatchNorm2d(int64_t features, double mom, double epsilon)
    : num_features(features), momentum(mom), eps(epsilon) {
  BASIN_CHECK(features > 0 && mom >= 0.0 && mom <= 1.0 && epsilon > 0.0,
              "BatchNorm2d: invalid num_features=", features, " momentum=", mom, " eps=", epsilon);
  weight = ones({features});
  bias = zeros({features});
  running_mean = zeros({features});
  running_var = ones({features});
  num_batches_tracked = zeros({}, DType::I64);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
  register_buffer("num_batches_tracked", num_batches_tracked);
}

void BatchNorm2d::reset_parameters(Generator&) {
  NoGrad no_grad;
  weight.fill_(1.0);
  bias.zero_();
}

void BatchNorm2d::reset_running_stats() {
  NoGrad no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

Tensor BatchNorm2d::forward(const Tensor& x) { return normalize(x, false); }

Tensor BatchNorm2d::forward_relu(const Tensor& x) { return normalize(x, true); }

Tensor BatchNorm2d::normalize(const Tensor& x, bool with_relu) {
  BASIN_CHECK((x.dim() == 4 || x.dim() == 2) && x.size(1) == num_features, "BatchNorm2d(",
              num_features, "): input must be [N, ", num_features, ", H, W] or [N, ",
              num_features, "], got ", x.str());
  const bool update = is_training() && !FreezeBatchNormStats::active();
  Tensor y = with_relu ? batch_norm_relu(x, weight, bias, running_mean, running_var, is_training(),
                                         momentum, eps, update)
                       : batch_norm(x, weight, bias, running_mean, running_var, is_training(),
                                    momentum, eps, update);
  if (update) {
    if (num_batches_tracked.device().is_cpu()) {
      *num_batches_tracked.data<int64_t>() += 1;
    } else {  // stays on the device: no host round trip inside a step
      NoGrad no_grad;
      num_batches_tracked.add_(ones({}, DType::I64, num_batches_tracked.device()));
    }
  }
  return y;
}

std::vector<double> BatchNorm2d::running_mean_values() const {
  return running_mean.to(Device::cpu()).to(DType::F64).to_vector<double>();
}

std::vector<double> BatchNorm2d::running_var_values() const {
  return running_var.to(Device::cpu()).to(DType::F64).to_vector<double>();
}

int64_t BatchNorm2d::batches_tracked() const {
  return static_cast<int64_t>(num_batches_tracked.item());
}

}  // namespace basin::nn
