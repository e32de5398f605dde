// `basin train`: the flag layer over run_training (apps/trainer.h). Every
// optimizer hyper-parameter of optim::OptimConfig is a flag, generated from
// optim::describe_options so the two can never drift apart.
#include <cstdio>

#include "apps/commands.h"
#include "apps/flags.h"
#include "apps/train_flags.h"
#include "apps/trainer.h"
#include "core/error.h"

namespace basin::apps {

int train_main(int argc, char** argv) {
  Flags flags("train", "Train a ResNet under label noise with SGD, SAM, ASAM, NCSAM or CA-SAM.");
  declare_train_flags(flags);
  if (!flags.parse(argc, argv)) return 0;
  if (flags.given("resume")) restore_saved_flags(flags);
  const TrainConfig config = train_config_from_flags(flags);
  const TrainSummary s = run_training(config);
  if (s.completed)
    std::printf("final clean test accuracy: %.2f%% (best %.2f%% at epoch %lld), %lld epochs, %.1f s; run in %s\n",
                100 * s.final_test_accuracy, 100 * s.best_test_accuracy, static_cast<long long>(s.best_epoch),
                static_cast<long long>(s.epochs_done), s.wall_time_s, s.out_dir.c_str());
  else
    std::printf("stopped after epoch %lld of %lld (resume with --resume %s), %.1f s\n",
                static_cast<long long>(s.epochs_done), static_cast<long long>(config.epochs),
                s.out_dir.c_str(), s.wall_time_s);
  return 0;
}

}  // namespace basin::apps
