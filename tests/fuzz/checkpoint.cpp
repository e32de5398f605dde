// A full checkpoint load as `basin train --resume` does it, into a fixed tiny
// run (resnet20 at width 1/16, 1 channel, 10 classes, CA-SAM over 16 samples):
// the file (core/safetensors), the model's state_dict, the optimizer's state
// (momentum, counters, generator, clean mask, sample tracker), the trainer's
// tensors and position metadata.
//
// Seeds: BASIN_FUZZ_WRITE_SEED=PATH fuzz_checkpoint writes a checkpoint of
// exactly this run to PATH and exits (tests/fuzz/make_corpus.py uses it).
#include <cstdlib>
#include <memory>

#include "apps/checkpoint.h"
#include "core/rng.h"
#include "fuzz_support.h"
#include "nn/models.h"
#include "nn/state_dict.h"
#include "optim/factory.h"

namespace {

constexpr int64_t kSamples = 16;

struct Run {
  std::shared_ptr<basin::nn::Module> model = basin::nn::make_model("resnet20", 10, 1, 1.0 / 16, uint64_t{1});
  basin::optim::OptimConfig config = [] {
    basin::optim::OptimConfig c;
    c.method = "casam";
    c.epochs = 2;
    c.steps_per_epoch = 4;
    return c;
  }();
  basin::optim::FlatParams flat =
      basin::optim::bind(*model, basin::Device::cpu(), basin::optim::bind_options(config));
  basin::optim::SampleTracker tracker{kSamples, basin::Device::cpu(), config.ema_beta};
  std::unique_ptr<basin::optim::Optimizer> optimizer = basin::optim::make_optimizer(config, flat, &tracker);
};

Run& run() {
  static Run r;
  return r;
}

void write_seed(const std::string& path) {
  Run& r = run();
  basin::NamedTensors extra = r.optimizer->state_tensors();
  std::vector<int64_t> noisy(kSamples);
  for (int64_t i = 0; i < kSamples; ++i) noisy[i] = (i * 7) % 10;
  extra.push_back({"trainer.noisy_labels", basin::from_vector(noisy, {kSamples})});
  const std::map<std::string, std::string> meta = {
      {"format", "basin-train-checkpoint-1"}, {"model", "resnet20"}, {"epoch", "1"}, {"step", "4"},
      {"augment_seed", "3"}, {"augment_offset", "128"}, {"best_test_accuracy", "0.25"},
      {"best_epoch", "1"}, {"last_test_accuracy", "0.25"}, {"skipped_steps", "0"},
      {"normalization.mean", "0.5"}, {"normalization.std", "0.25"}};
  basin::apps::save_checkpoint(path, *r.model, extra, meta);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed_path = std::getenv("BASIN_FUZZ_WRITE_SEED")) {
    write_seed(seed_path);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = basin::fuzz::write_input("checkpoint.safetensors", data, size);
  Run& r = run();
  basin::fuzz::expect_clean([&] {
    const basin::apps::Checkpoint ck = basin::apps::load_checkpoint(path);
    basin::nn::load_state_dict(*r.model, ck.model_state());
    r.flat.check_bound();
    basin::NamedTensors optimizer_state;
    for (const auto& [name, tensor] : ck.other_tensors())
      if (name.rfind("trainer.", 0) != 0) optimizer_state.push_back({name, tensor});
    r.optimizer->load_state(optimizer_state);
    ck.tensor("trainer.noisy_labels").to_vector<int64_t>();
    ck.meta_i64("epoch");
    ck.meta_i64("step");
    ck.meta_i64("best_epoch");
    ck.meta_i64("skipped_steps");
    ck.meta_u64("augment_seed");
    ck.meta_u64("augment_offset");
    ck.meta_f64("best_test_accuracy");
    ck.meta_f64("last_test_accuracy");
    basin::apps::split_doubles(ck.meta("normalization.mean"), "normalization.mean");
  });
  return 0;
}
