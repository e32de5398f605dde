// Augmentation front-end: uint8 NCHW batch -> normalised float32 on the
// batch's device, through Backend::augment (one kernel: pad + random crop,
// horizontal flip, normalise). Randomness comes from a Generator's Philox
// counters, so a batch's augmentation can be replayed from (seed, offset).
#pragma once
#include "core/backend.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace basin::data {

// Random crop/flip per spec; sample i uses Philox counter gen.advance(B) + i.
Tensor augment(const Tensor& u8_batch, const AugmentSpec& spec, Generator& gen);
// Normalisation only (evaluation): spec's pad and flip are ignored; draws nothing.
Tensor normalize(const Tensor& u8_batch, const AugmentSpec& spec);

// AugmentSpec carrying the dataset's mean/std, no pad, no flip.
AugmentSpec eval_augment_spec(const Dataset& dataset);
// The standard training augmentation for a dataset:
//  cifar10, cifar100: zero pad 4 + random 32x32 crop, flip p = 0.5 (docs/algorithms.md);
//  fashion-mnist: zero pad 2 + random 28x28 crop, no flip — the shoes in
//    Fashion-MNIST all point the same way, so a flipped sandal is an image the
//    test set never shows; 2 px is the same fraction of the side as 4 of 32;
//  anything else (image folders): zero pad max(H, W)/8, flip p = 0.5.
AugmentSpec train_augment_spec(const Dataset& dataset);

}  // namespace basin::data
