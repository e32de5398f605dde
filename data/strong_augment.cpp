// Strong augmentation front-end: argument checks and the Philox counter
// layout here; the pixel work in three backend kernels (rand_augment, the weak
// augment, cutout).
#include "data/strong_augment.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rand_augment_ops.h"
#include "data/augment.h"

namespace basin::data {
namespace {

RandAugmentSpec rand_augment_spec(const StrongAugmentSpec& strong) {
  RandAugmentSpec ops;
  ops.num_ops = strong.num_ops;
  ops.magnitude = strong.magnitude;
  ops.op_prob = strong.op_prob;
  ops.fill = strong.fill;
  return ops;
}

void check_strong_args(const Tensor& u8_batch, const StrongAugmentSpec& strong) {
  BASIN_CHECK(u8_batch.defined() && u8_batch.dtype() == DType::U8 && u8_batch.dim() == 4,
              "strong augmentation: batch must be u8 [B, C, H, W], got ",
              u8_batch.defined() ? u8_batch.str() : "undefined");
  BASIN_CHECK(u8_batch.size(1) == 1 || u8_batch.size(1) == 3, "strong augmentation: ", u8_batch.size(1),
              " channels, RandAugment handles 1 (gray) or 3 (RGB)");
  rand_augment::check_rand_augment_spec("strong augmentation", rand_augment_spec(strong));
  BASIN_CHECK(strong.cutout_frac >= 0.0f && strong.cutout_frac <= 1.0f, "strong augmentation: cutout fraction ",
              strong.cutout_frac, " outside [0, 1]");
}

}  // namespace

int64_t cutout_side(const StrongAugmentSpec& strong, int64_t height, int64_t width) {
  return std::llround(double(strong.cutout_frac) * double(std::min(height, width)));
}

Tensor strong_augment(const Tensor& u8_batch, const AugmentSpec& weak, const StrongAugmentSpec& strong,
                      Generator& gen) {
  check_strong_args(u8_batch, strong);
  const Tensor src = u8_batch.contiguous();
  const uint64_t batch = static_cast<uint64_t>(src.size(0)), seed = gen.seed(), start = gen.offset();
  try {
    // Counters: the weak crop/flip takes the first B (so with no ops and no
    // Cutout this is augment() exactly), RandAugment the next num_ops * B,
    // Cutout the last B. The whole layout is reserved whatever the flags.
    Generator weak_gen(seed);
    weak_gen.set_state(seed, gen.advance(batch));
    const uint64_t ops_offset = gen.advance(uint64_t(strong.num_ops) * batch);
    const uint64_t cutout_offset = gen.advance(batch);
    Tensor mixed = empty(src.shape(), DType::U8, src.device());
    if (src.numel() > 0) backend_of(src).rand_augment(src, rand_augment_spec(strong), seed, ops_offset, mixed);
    Tensor out = augment(mixed, weak, weak_gen);
    const int64_t side = cutout_side(strong, src.size(2), src.size(3));
    if (side > 0 && src.numel() > 0) backend_of(out).cutout(out, side, seed, cutout_offset);
    return out;
  } catch (...) {
    gen.set_state(seed, start);  // a rejected call (say, a bad weak spec) consumes no randomness
    throw;
  }
}

}  // namespace basin::data
