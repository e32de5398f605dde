// The default step loss; see step_loss.h.
#include "optim/step_loss.h"

#include "core/ops.h"

namespace basin::optim {

Tensor CrossEntropyLoss::per_sample(const Tensor& logits, const LossRows& rows) const {
  return cross_entropy_per_sample(logits, rows.labels, smoothing_);
}

}  // namespace basin::optim
