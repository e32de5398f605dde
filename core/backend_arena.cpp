// Default optimizer-arena update, composed from the elementwise kernels so a
// new backend works before it has a fused version. Same arithmetic order as
// the fused kernels: results agree to rounding. (The named ascent kernels,
// sam_perturb and its kin, have no default: each backend implements them.)
#include "core/backend.h"
#include "core/error.h"

namespace basin {

void Backend::sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask,
                       const Tensor& e, const SgdStepParams& p) {
  BASIN_CHECK(w.numel() == g.numel(), "sgd_step: parameters ", w.str(), " and gradients ",
              g.str(), " differ in size");
  if (e.defined()) binary(BinaryOp::Sub, w, e, w);
  // The composed default reads the skip flag back (the fused kernels read it on the device).
  if (p.skip.defined() && !(p.skip.item() == 0.0)) return;
  Tensor d = empty(w.shape(), w.dtype(), w.device());
  if (p.weight_decay != 0.0) {
    binary_scalar(BinaryOp::Mul, w, p.weight_decay, d);
    if (decay_mask.defined()) binary(BinaryOp::Mul, d, decay_mask, d);
    binary(BinaryOp::Add, d, g, d);
  } else {
    copy_strided(g, d);
  }
  Tensor step = d;
  if (p.momentum != 0.0) {
    BASIN_CHECK(m.defined(), "sgd_step: momentum ", p.momentum, " needs a momentum buffer");
    binary_scalar(BinaryOp::Mul, m, p.momentum, m);
    binary(BinaryOp::Add, m, d, m);
    if (p.nesterov) {
      step = empty(w.shape(), w.dtype(), w.device());
      binary_scalar(BinaryOp::Mul, m, p.momentum, step);
      binary(BinaryOp::Add, step, d, step);
    } else {
      step = m;
    }
  }
  Tensor scaled = empty(w.shape(), w.dtype(), w.device());
  // The composed default reads a device learning rate back too.
  binary_scalar(BinaryOp::Mul, step, p.lr_value.defined() ? p.lr_value.item() : p.lr, scaled);
  binary(BinaryOp::Sub, w, scaled, w);
}

}  // namespace basin
