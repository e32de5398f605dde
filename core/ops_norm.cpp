// Batch normalisation front-end: training (batch statistics, optional running
// update) and evaluation (running statistics), alone or followed by a ReLU.
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

namespace {

void check_channel_param(const Tensor& x, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  check_same_device(x, t, "batch_norm");
  check_same_dtype(x, t, "batch_norm");
  BASIN_CHECK(t.dim() == 1 && t.shape()[0] == x.shape()[1], "batch_norm: ", what, " ", t.str(),
              " does not match the ", x.shape()[1], " channels of ", x.str());
}

// [1, C] or [1, C, 1, 1]: broadcasts a per-channel vector against x.
Tensor per_channel(const Tensor& v, const Tensor& x) {
  Shape shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = x.shape()[1];
  return v.reshape(shape);
}

// batch_norm, and with fuse_relu its training path with a ReLU on the output
// (batch_norm_relu; evaluation composes the two ops instead).
Tensor normalize(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                 Tensor& running_var, bool training, double momentum, double eps,
                 bool update_running, bool fuse_relu) {
  check_floating(x, "batch_norm");
  BASIN_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: expected [N,C] or [N,C,H,W], got ", x.str());
  check_channel_param(x, gamma, "gamma");
  check_channel_param(x, beta, "beta");
  check_channel_param(x, running_mean, "running_mean");
  check_channel_param(x, running_var, "running_var");
  const Tensor xd = dense(x);
  const Tensor gd = gamma.defined() ? dense(gamma) : Tensor();
  const Tensor bd = beta.defined() ? dense(beta) : Tensor();
  Tensor y = detail::new_like(xd);

  if (!training) {
    BASIN_CHECK(running_mean.defined() && running_var.defined(),
                "batch_norm: evaluation mode needs running statistics");
    backend_of(x).batch_norm_eval(xd, gd, bd, dense(running_mean), dense(running_var), eps, y);
    if (!any_requires_grad({x, gamma, beta})) return y;
    // y = (x - mean) * invstd * gamma + beta with constant statistics.
    const Tensor invstd = per_channel(
        detail::unary_kernel(UnaryOp::Reciprocal, sqrt(add(running_var.detach(), eps))), xd);
    const Tensor centered = sub(xd, per_channel(running_mean.detach(), xd));
    const bool need_x = x.requires_grad();
    const bool need_g = gamma.defined() && gamma.requires_grad();
    const bool need_b = beta.defined() && beta.requires_grad();
    return record("batch_norm_eval", y, {x, gamma, beta}, [=](const Tensor& g) {
      Tensor gx, gg, gb;
      const std::vector<int64_t> dims = xd.dim() == 4 ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0};
      if (need_x) gx = mul(g, gd.defined() ? mul(invstd, per_channel(gd, xd)) : invstd);
      if (need_g) gg = sum(mul(g, mul(centered, invstd)), dims);
      if (need_b) gb = sum(g, dims);
      return std::vector<Tensor>{gx, gg, gb};
    });
  }

  BASIN_CHECK(xd.numel() / xd.shape()[1] > 1, "batch_norm: training needs more than one value per "
              "channel, got ", x.str());
  if (update_running)
    BASIN_CHECK(!running_mean.defined() || (running_mean.is_contiguous() && running_var.is_contiguous()),
                "batch_norm: running statistics must be contiguous");
  Tensor save_mean = empty({x.shape()[1]}, x.dtype(), x.device());
  Tensor save_invstd = empty({x.shape()[1]}, x.dtype(), x.device());
  const bool update = update_running && running_mean.defined() && running_var.defined();
  Backend& be = backend_of(x);
  if (fuse_relu)
    be.batch_norm_relu_train(xd, gd, bd, running_mean, running_var, update, momentum, eps, y,
                             save_mean, save_invstd);
  else
    be.batch_norm_train(xd, gd, bd, running_mean, running_var, update, momentum, eps, y,
                        save_mean, save_invstd);
  if (!any_requires_grad({x, gamma, beta})) return y;
  const bool need_g = gamma.defined() && gamma.requires_grad();
  const bool need_b = beta.defined() && beta.requires_grad();
  // The fused backward reads the output's sign; a node keeps its output's
  // storage through a detached handle, never the output tensor itself.
  const Tensor yd = fuse_relu ? y.detach() : Tensor();
  return record(fuse_relu ? "batch_norm_relu" : "batch_norm", y, {x, gamma, beta},
                [=](const Tensor& g) {
                  Tensor gx = detail::new_like(xd), gg, gb;
                  if (need_g) gg = detail::new_like(gd);
                  if (need_b) gb = detail::new_like(bd);
                  Backend& bk = backend_of(xd);
                  if (fuse_relu)
                    bk.batch_norm_relu_backward(dense(g), yd, xd, gd, save_mean, save_invstd, gx,
                                                gg, gb);
                  else
                    bk.batch_norm_backward(dense(g), xd, gd, save_mean, save_invstd, gx, gg, gb);
                  return std::vector<Tensor>{gx, gg, gb};
                });
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum, double eps,
                  bool update_running) {
  return normalize(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                   update_running, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       Tensor& running_mean, Tensor& running_var, bool training, double momentum,
                       double eps, bool update_running) {
  if (!training)
    return relu(batch_norm(x, gamma, beta, running_mean, running_var, false, momentum, eps,
                           update_running));
  return normalize(x, gamma, beta, running_mean, running_var, true, momentum, eps,
                   update_running, true);
}

}  // namespace basin
