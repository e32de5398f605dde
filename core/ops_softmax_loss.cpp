// Softmax, log-softmax and the fused per-sample cross-entropy (the loss every
// SAM-family optimizer reads per sample), plus dropout.
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

namespace {

Tensor softmax_impl(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_floating(x, name);
  BASIN_CHECK(x.dim() == 2, name, ": expected a 2-D tensor [rows, classes], got ", x.str());
  const Tensor xd = dense(x);
  Tensor y = detail::new_like(xd);
  backend_of(x).softmax_rows(xd, y, log);
  const Tensor yd = y.detach();
  return record(name, y, {x}, [yd, log](const Tensor& g) {
    Tensor gx = detail::new_like(yd);
    backend_of(yd).softmax_backward_rows(dense(g), yd, log, gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_impl(x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_impl(x, true); }

Tensor cross_entropy_per_sample(const Tensor& logits, const Tensor& labels, double smoothing) {
  check_floating(logits, "cross_entropy");
  check_same_device(logits, labels, "cross_entropy");
  BASIN_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got ", logits.str());
  BASIN_CHECK(labels.dtype() == DType::I64 && labels.dim() == 1 &&
                  labels.shape()[0] == logits.shape()[0],
              "cross_entropy: labels ", labels.str(), " must be i64 [", logits.shape()[0],
              "] to match logits ", logits.str());
  BASIN_CHECK(smoothing >= 0.0 && smoothing < 1.0, "cross_entropy: label smoothing ", smoothing,
              " outside [0, 1)");
  const Tensor zd = dense(logits), yd = dense(labels);
  Tensor loss = empty({logits.shape()[0]}, logits.dtype(), logits.device());
  backend_of(zd).cross_entropy_forward(zd, yd, smoothing, loss);
  return record("cross_entropy", loss, {logits}, [zd, yd, smoothing](const Tensor& g) {
    Tensor gz = detail::new_like(zd);
    backend_of(zd).cross_entropy_backward(zd, yd, smoothing, dense(g), gz);
    return std::vector<Tensor>{gz};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing) {
  return mean(cross_entropy_per_sample(logits, labels, smoothing));
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_floating(x, "dropout");
  BASIN_CHECK(p >= 0.0 && p < 1.0, "dropout: probability ", p, " outside [0, 1)");
  if (!training || p == 0.0) return x;
  const Tensor u = rand(x.shape(), gen, x.dtype(), x.device());
  const Tensor keep_scaled = mul(compare(BinaryOp::Ge, u, p), 1.0 / (1.0 - p));
  return mul(x, keep_scaled);
}

}  // namespace basin
