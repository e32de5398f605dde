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
  const auto epochs_done = static_cast<long long>(s.epochs_done);
  if (s.already_finished) {
    std::printf("run %s is already finished (%lld of %lld epochs; final clean test accuracy %.2f%%, best %.2f%% at "
                "epoch %lld); nothing was changed. To train it longer: %s --epochs N (N > %lld)\n",
                s.out_dir.c_str(), epochs_done, epochs_done, 100 * s.final_test_accuracy,
                100 * s.best_test_accuracy, static_cast<long long>(s.best_epoch), resume_command(s.out_dir).c_str(),
                epochs_done);
    return 0;
  }
  if (s.status == "finished") {
    std::printf("final clean test accuracy: %.2f%% (best %.2f%% at epoch %lld), %lld epochs, %.1f s; run in %s\n",
                100 * s.final_test_accuracy, 100 * s.best_test_accuracy, static_cast<long long>(s.best_epoch),
                epochs_done, s.wall_time_s, s.out_dir.c_str());
    return 0;
  }
  if (s.status == "diverged") {
    std::fprintf(stderr, "basin train: error: the run diverged at step %lld (%s); run.jsonl and summary.json in %s "
                 "record it, the checkpoint holds epoch %lld\n",
                 static_cast<long long>(s.diverged_step), s.reason.c_str(), s.out_dir.c_str(), epochs_done);
    return 1;
  }
  std::printf("stopped (%s) after %lld steps, %lld of %lld epochs complete, %.1f s; the checkpoint holds this "
              "position. Resume with:\n  %s\n",
              s.reason.c_str(), static_cast<long long>(s.steps), epochs_done, static_cast<long long>(config.epochs),
              s.wall_time_s, resume_command(s.out_dir).c_str());
  return s.reason.rfind("SIGINT", 0) == 0 ? 130 : 0;  // 128 + SIGINT, as a shell reports it
}

}  // namespace basin::apps
