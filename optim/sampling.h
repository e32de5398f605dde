// Weighted sampling without replacement on the device: Gumbel-top-k. Adding
// independent Gumbel noise to log-probabilities and keeping the k largest keys
// draws k distinct items with the same law as sequential sampling without
// replacement, with no host round trip.
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace basin::optim {

// log_p [n] floating (log-probabilities, unnormalised is fine). Draws U [n]
// from gen (counters gen.offset() .. + n - 1), keys = log_p - log(-log U),
// returns the positions of the k largest keys, i64 [k], in descending key order.
// When keys_out is given it receives the keys [n]. When device_offset (i64
// [1] on log_p's device) is defined, the draw's first counter is read there on
// the device (a captured step's offset changes per replay); gen still advances by n.
Tensor gumbel_top_k(const Tensor& log_p, int64_t k, Generator& gen, Tensor* keys_out = nullptr,
                    const Tensor& device_offset = Tensor());

}  // namespace basin::optim
