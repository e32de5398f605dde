// The loss an optimizer step minimises, as a parameter of the step. The
// closure returns `views()` logit rows per sample, view-major ([view 0 rows;
// view 1 rows; ...], each block in the order of the labels); the loss turns
// them into one differentiable value per sample, and the step minimises their
// batch mean. Plain training uses CrossEntropyLoss (one view); IDO's stage 2
// uses IdoLoss (optim/ido_loss.h, two views: weak and strong).
#pragma once
#include <cstdint>
#include <memory>

#include "core/safetensors.h"
#include "core/tensor.h"

namespace basin::optim {

// The rows of one part of the batch, as the loss sees them.
struct LossRows {
  Tensor labels;   // i64 [b]: the labels trained on
  Tensor indices;  // i64 [b]: dataset indices; undefined when the caller gave none
};

class StepLoss {
 public:
  virtual ~StepLoss() = default;
  virtual const char* name() const = 0;
  // Logit rows per sample the closure returns.
  virtual int64_t views() const { return 1; }
  // Per-sample loss [b] from logits [views() * b, C], recorded for autograd.
  virtual Tensor per_sample(const Tensor& logits, const LossRows& rows) const = 0;
  // Step dumps: the loss's own per-sample inputs for the batch's dataset indices.
  virtual void add_dump_entries(NamedTensors&, const Tensor& /*indices*/) const {}
};

// Cross-entropy with label smoothing: the default of every optimizer.
class CrossEntropyLoss : public StepLoss {
 public:
  explicit CrossEntropyLoss(double smoothing) : smoothing_(smoothing) {}
  const char* name() const override { return "cross_entropy"; }
  Tensor per_sample(const Tensor& logits, const LossRows& rows) const override;
  double smoothing() const { return smoothing_; }

 private:
  double smoothing_;
};

}  // namespace basin::optim
