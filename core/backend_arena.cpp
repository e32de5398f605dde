// Default optimizer-arena kernels, composed from the elementwise kernels so a
// new backend works before it has fused versions. Same arithmetic order as
// the fused kernels: results agree to rounding.
#include "core/backend.h"
#include "core/error.h"

namespace basin {

void Backend::sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask,
                       const Tensor& e, const SgdStepParams& p) {
  BASIN_CHECK(w.numel() == g.numel(), "sgd_step: parameters ", w.str(), " and gradients ",
              g.str(), " differ in size");
  if (e.defined()) binary(BinaryOp::Sub, w, e, w);
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
  binary_scalar(BinaryOp::Mul, step, p.lr, scaled);
  binary(BinaryOp::Sub, w, scaled, w);
}

void Backend::perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& s, double a,
                      const Tensor& h, double b, bool apply) {
  BASIN_CHECK(w.numel() == g.numel() && e.numel() == g.numel(), "perturb: arenas ", w.str(), ", ",
              e.str(), " and ", g.str(), " differ in size");
  binary_scalar(BinaryOp::Mul, g, a, e);
  if (s.defined()) {
    binary(BinaryOp::Mul, e, s, e);
    binary(BinaryOp::Mul, e, s, e);
  }
  if (h.defined()) {
    Tensor bh = empty(h.shape(), h.dtype(), h.device());
    binary_scalar(BinaryOp::Mul, h, b, bh);
    binary(BinaryOp::Add, e, bh, e);
  }
  if (apply) binary(BinaryOp::Add, w, e, w);
}

}  // namespace basin
