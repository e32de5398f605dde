// `basin train --dump-step N`: asks the optimizer to dump step N with what a
// replay needs besides the optimizer's own buffers: the batch as fed, and the
// model to rebuild (tests/reference/replay_step.py redoes the step from it).
#pragma once
#include <cstdint>

#include "apps/trainer.h"
#include "core/tensor.h"
#include "optim/optimizer.h"

namespace basin::apps {

// Sets in.dump_path (OUT/step_N.safetensors, N = the run's global step, which
// differs from in.step in IDO's stage 2), in.dump_batch and in.dump_metadata.
void request_step_dump(optim::StepInput& in, const TrainConfig& cfg, const Tensor& batch, int64_t num_classes,
                       int64_t global_step);

}  // namespace basin::apps
