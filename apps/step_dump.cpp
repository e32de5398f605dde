// Step dump requests; see step_dump.h and docs/optimizers.md ("Step dumps").
#include "apps/step_dump.h"

#include <filesystem>
#include <string>

#include "apps/checkpoint.h"
#include "core/error.h"

namespace basin::apps {

void request_step_dump(optim::StepInput& in, const TrainConfig& cfg, const Tensor& batch, int64_t num_classes,
                       int64_t global_step) {
  in.dump_path = (std::filesystem::path(cfg.out_dir) / cat("step_", global_step, ".safetensors")).string();
  in.dump_batch = batch.detach();
  in.dump_metadata = {{"model", cfg.model},
                      {"width", join_doubles({cfg.width})},
                      {"num_classes", std::to_string(num_classes)},
                      {"in_channels", std::to_string(batch.size(1))},
                      {"dataset", cfg.dataset},
                      {"device", cfg.device}};
}

}  // namespace basin::apps
