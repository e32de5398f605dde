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
  int magnitude = 5;         // 0..30 scale like the common RandAugment (docs/algorithms.md)
  float op_prob = 0.5f;      // each chosen op is applied with this probability
  float cutout_frac = 0.15f; // Cutout square side as a fraction of min(H, W); 0 = off
};

// u8 NCHW batch -> normalised f32 on the batch's device: RandAugment, then the weak
// pad-crop/flip/normalise of `weak` (data/augment.h), then Cutout. Sample i's draws come
// from the generator's Philox stream (deterministic for a seed; replayable from (seed, offset)).
Tensor strong_augment(const Tensor& u8_batch, const AugmentSpec& weak, const StrongAugmentSpec& strong,
                      Generator& gen);

}  // namespace basin::data
