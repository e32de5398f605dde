// Augmentation front-end: argument checks here, the pixel work in the
// backend's augment kernel (core/cpu, cuda/).
#include "data/augment.h"

#include <algorithm>

#include "core/error.h"

namespace basin::data {
namespace {

void check_augment_args(const Tensor& u8_batch, const AugmentSpec& spec) {
  BASIN_CHECK(u8_batch.defined() && u8_batch.dtype() == DType::U8 && u8_batch.dim() == 4,
              "augment: batch must be u8 [B, C, H, W], got ", u8_batch.defined() ? u8_batch.str() : "undefined");
  const int64_t c = u8_batch.size(1), h = u8_batch.size(2), w = u8_batch.size(3);
  BASIN_CHECK(c >= 1 && c <= 4, "augment: ", c, " channels, the kernel handles 1 to 4");
  BASIN_CHECK(spec.pad >= 0, "augment: negative pad ", spec.pad);
  BASIN_CHECK(!spec.reflect_pad || (spec.pad < h && spec.pad < w), "augment: reflect padding of ", spec.pad,
              " needs images larger than the pad, got ", h, "x", w);
  BASIN_CHECK(spec.flip_prob >= 0.0f && spec.flip_prob <= 1.0f, "augment: flip probability ", spec.flip_prob,
              " outside [0, 1]");
  for (int64_t k = 0; k < c; ++k)
    BASIN_CHECK(spec.std[k] > 0.0f, "augment: std[", k, "] = ", spec.std[k], " must be positive");
}

Tensor run_augment(const Tensor& u8_batch, const AugmentSpec& spec, uint64_t seed, uint64_t offset) {
  check_augment_args(u8_batch, spec);
  const Tensor src = u8_batch.contiguous();
  Tensor out = empty(src.shape(), DType::F32, src.device());
  if (src.numel() > 0) backend_of(src).augment(src, spec, seed, offset, out);
  return out;
}

AugmentSpec with_constants(const Dataset& dataset) {
  const size_t c = dataset.mean.size();
  BASIN_CHECK(c >= 1 && c <= 4 && dataset.std.size() == c, "augment spec: dataset '", dataset.name, "' has ", c,
              " normalisation channels (need 1 to 4, one std per mean)");
  AugmentSpec spec;
  for (size_t k = 0; k < c; ++k) {
    spec.mean[k] = static_cast<float>(dataset.mean[k]);
    spec.std[k] = static_cast<float>(dataset.std[k]);
  }
  return spec;
}

}  // namespace

Tensor augment(const Tensor& u8_batch, const AugmentSpec& spec, Generator& gen) {
  // Checked before advancing, so a rejected call leaves the stream where it was.
  check_augment_args(u8_batch, spec);
  const uint64_t batch = static_cast<uint64_t>(u8_batch.size(0));
  const uint64_t seed = gen.seed();
  const uint64_t offset = gen.advance(batch);
  return run_augment(u8_batch, spec, seed, offset);
}

Tensor normalize(const Tensor& u8_batch, const AugmentSpec& spec) {
  AugmentSpec plain = spec;
  plain.pad = 0;
  plain.flip_prob = 0.0f;
  return run_augment(u8_batch, plain, 0, 0);
}

AugmentSpec eval_augment_spec(const Dataset& dataset) { return with_constants(dataset); }

AugmentSpec train_augment_spec(const Dataset& dataset) {
  AugmentSpec spec = with_constants(dataset);
  if (dataset.name == "cifar10" || dataset.name == "cifar100") {
    spec.pad = 4;
    spec.flip_prob = 0.5f;
  } else if (dataset.name == "fashion-mnist") {
    spec.pad = 2;
    spec.flip_prob = 0.0f;
  } else {
    spec.pad = static_cast<int>(std::max(dataset.height(), dataset.width()) / 8);
    spec.flip_prob = 0.5f;
  }
  return spec;
}

}  // namespace basin::data
