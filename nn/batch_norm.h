// BatchNorm2d (also on [N, C]) with PyTorch's buffers and semantics, and
// FreezeBatchNormStats: the scope SAM's second pass runs in, where training-mode
// BatchNorm still normalises with batch statistics but leaves running stats alone.
#pragma once
#include "nn/module.h"

namespace basin::nn {

// While one of these lives on a thread, every BatchNorm2d forward on that
// thread skips the running-statistics update (and num_batches_tracked).
class FreezeBatchNormStats {
 public:
  FreezeBatchNormStats();
  ~FreezeBatchNormStats();
  FreezeBatchNormStats(const FreezeBatchNormStats&) = delete;
  FreezeBatchNormStats& operator=(const FreezeBatchNormStats&) = delete;
  static bool active();

 private:
  bool previous_;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double momentum = 0.1, double eps = 1e-5);
  // Training: normalise with the batch's mean and biased variance; running
  // mean/var move by `momentum` toward the batch mean and UNBIASED variance.
  // Eval: normalise with the running statistics.
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)), the same values and gradients, through the fused
  // batch_norm_relu op (what the residual blocks call).
  Tensor forward_relu(const Tensor& x);
  void reset_parameters(Generator& gen) override;  // gamma 1, beta 0 (no randomness)
  void reset_running_stats();
  std::string type_name() const override { return "BatchNorm2d"; }

  // Host copies of the running statistics, for tests and probes.
  std::vector<double> running_mean_values() const;
  std::vector<double> running_var_values() const;
  int64_t batches_tracked() const;

  Tensor weight;                // gamma [C]
  Tensor bias;                  // beta [C]
  Tensor running_mean;          // [C], starts at 0
  Tensor running_var;           // [C], starts at 1
  Tensor num_batches_tracked;   // i64 [], counts running-stat updates
  int64_t num_features;
  double momentum, eps;

 private:
  Tensor normalize(const Tensor& x, bool with_relu);
};

}  // namespace basin::nn
