// Gumbel-top-k sampling (see sampling.h).
#include "optim/sampling.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

Tensor gumbel_top_k(const Tensor& log_p, int64_t k, Generator& gen, Tensor* keys_out,
                    const Tensor& device_offset) {
  BASIN_CHECK(log_p.defined() && log_p.dim() == 1 && is_floating(log_p.dtype()),
              "gumbel_top_k: log_p must be a floating 1-D tensor, got ",
              log_p.defined() ? log_p.str() : std::string("undefined"));
  const int64_t n = log_p.numel();
  BASIN_CHECK(k >= 1 && k <= n, "gumbel_top_k: k = ", k, " must be in [1, ", n, "]");
  NoGrad no_grad;
  Tensor u;
  if (device_offset.defined()) {
    u = empty({n}, log_p.dtype(), log_p.device());
    backend_of(u).fill_uniform_at(u, gen.seed(), device_offset, 0.0, 1.0);
    gen.advance(static_cast<uint64_t>(n));
  } else {
    u = rand({n}, gen, log_p.dtype(), log_p.device());
  }
  const Tensor keys = sub(log_p.detach(), log(neg(log(u))));
  if (keys_out) *keys_out = keys;
  return topk(keys.reshape({1, n}), k).indices.reshape({k});
}

}  // namespace basin::optim
