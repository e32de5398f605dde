// The loss a probe measures: L(w) over a FIXED set of samples, seen as a
// function of the flat parameter arena w. The Hessian, sharpness and
// landscape tools (optim/hessian.h, optim/sharpness.h, optim/landscape.h)
// only move w and ask for L and its gradient, so they run on any model, any
// backend, and on test functions whose answers are known exactly.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "core/tensor.h"
#include "nn/module.h"
#include "optim/flat_params.h"

namespace basin::optim {

struct LossValue {
  double loss = std::numeric_limits<double>::quiet_NaN();
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // NaN where it means nothing
};

class ProbeLoss {
 public:
  virtual ~ProbeLoss() = default;
  // w: the 1-D parameter tensor L reads. Probes move it in place (copy_,
  // add_) and put the original values back before they return.
  virtual Tensor& params() = 0;
  virtual LossValue evaluate() = 0;
  // grad = dL/dw at the current w (a tensor of w's layout, overwritten); returns L(w).
  virtual double gradient(Tensor& grad) = 0;
};

// How BatchNorm behaves while a model is probed. Eval (the default): the
// checkpoint's running statistics, so L is a fixed function of w that does
// not depend on how samples are grouped into batches. Train: each batch is
// normalised with its own statistics (what the optimizer saw while training);
// the running statistics are never updated either way.
enum class BatchNormMode { Eval, Train };
BatchNormMode parse_batch_norm_mode(const std::string& text);  // "eval" | "train"
const char* batch_norm_mode_name(BatchNormMode mode);

// Mean cross-entropy (and accuracy) of `model` on (inputs, labels) in fixed
// batches of `batch_size`, in order. inputs: normalised floats [N, ...] and
// labels i64 [N], both on the arena's device. `flat` must be bound to `model`.
class ModelLoss : public ProbeLoss {
 public:
  ModelLoss(nn::Module& model, FlatParams& flat, Tensor inputs, Tensor labels, int64_t batch_size,
            BatchNormMode bn = BatchNormMode::Eval);
  Tensor& params() override { return w_; }
  LossValue evaluate() override;
  double gradient(Tensor& grad) override;
  int64_t samples() const { return inputs_.size(0); }

 private:
  nn::Module& model_;
  FlatParams& flat_;
  Tensor w_, inputs_, labels_;
  int64_t batch_size_;
  BatchNormMode bn_;
};

}  // namespace basin::optim
