// Strong augmentation (IDO's second view, docs/algorithms.md "Strong
// augmentation"): RandAugment + the weak pad-crop/flip + Cutout, one backend
// kernel per call. Randomness comes from a Generator's Philox counters, so a
// batch's augmentation can be replayed from (seed, offset).
#pragma once
#include "core/backend.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace basin::data {

struct StrongAugmentSpec {
  int num_ops = 2;           // RandAugment n
  int magnitude = 5;         // 0..30, torchvision's scale: 30 = each op's maximum (docs/algorithms.md)
  float op_prob = 0.5f;      // each chosen op is applied with this probability
  float cutout_frac = 0.15f; // Cutout square side as a fraction of min(H, W); 0 = off
  int fill = 128;            // 0..255: pixels geometric ops bring in from outside the image
};

// Cutout's square side in pixels: round(cutout_frac * min(H, W)) (0 = no Cutout).
int64_t cutout_side(const StrongAugmentSpec& strong, int64_t height, int64_t width);

// u8 NCHW batch (1 or 3 channels) -> normalised f32 on the batch's device: RandAugment,
// then the weak pad-crop/flip/normalise of `weak` (data/augment.h), then Cutout (the
// square set to 0, i.e. the dataset mean). Sample i's draws come from the generator's
// Philox stream (deterministic for a seed; replayable from (seed, offset)): with o the
// offset before the call and B the batch, the weak stage uses counters o + i, op j uses
// o + (1 + j) B + i, Cutout o + (1 + num_ops) B + i; the call advances (num_ops + 2) B.
Tensor strong_augment(const Tensor& u8_batch, const AugmentSpec& weak, const StrongAugmentSpec& strong,
                      Generator& gen);

}  // namespace basin::data
