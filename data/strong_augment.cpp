// Strong augmentation front-end (stub until the kernels land).
#include "data/strong_augment.h"

#include "core/error.h"

namespace basin::data {

Tensor strong_augment(const Tensor&, const AugmentSpec&, const StrongAugmentSpec&, Generator&) {
  throw Error("strong augmentation: not implemented yet");
}

}  // namespace basin::data
