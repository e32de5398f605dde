// The training loop behind `basin train`, as a library function so the tests
// can drive it: data + label noise -> seeded ResNet -> flat arena + optimizer
// (SGD / SAM / ASAM / NCSAM / CA-SAM) -> epochs of augmented batches, with
// run.jsonl, a checkpoint per epoch, --resume, and summary.json.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/ido_stage.h"
#include "optim/config.h"

namespace basin::apps {

struct TrainConfig {
  // model
  std::string model = "resnet20";
  double width = 1.0;
  // data
  std::string dataset = "fmnist";   // see apps/dataset_spec.h
  int64_t train_limit = 0;          // 0: the whole split
  int64_t test_limit = 0;
  std::string normalization = "auto";  // DatasetOptions' text form: auto | computed [;mean=..;std=..;resize=..;channels=..]
  bool augment = true;
  std::string noise = "none";       // data::apply_noise spec
  uint64_t noise_seed = 0;
  // optimisation; optim.epochs / steps_per_epoch / seed are filled in by the trainer
  optim::OptimConfig optim;
  int64_t epochs = 10;              // with IDO: stage 1's epochs (stage 2 adds ido.stage2_epochs)
  int64_t batch_size = 128;
  IdoConfig ido;                    // --method ido: two-stage training (apps/ido_stage.h)
  uint64_t seed = 0;                // model init, shuffling, augmentation, optimizer stream
  // execution
  std::string device = "cpu";
  int threads = 0;                  // OpenMP threads; 0: OpenMP's default
  bool deterministic = false;       // CUDA: deterministic cuDNN algorithms (the CPU always is)
  bool cuda_graph = false;          // CUDA: plain steps captured as a CUDA graph and replayed (optim/captured_step.h)
  // output
  std::string out_dir = "runs/default";
  std::string resume;               // a run directory or checkpoint file; "" = fresh run
  int64_t log_every = 50;           // JSON step line every k steps (0: never)
  std::string init;                 // start from these model weights (checkpoint or plain state_dict)
  int64_t dump_step = -1;           // write that global step's optimizer buffers (-1: none)
  int64_t eval_every = 1;           // test evaluation every k epochs (and after the last)
  int64_t stop_after = 0;           // stop after this many epochs of this invocation (0: run to the end)
  int64_t eval_batch_size = 256;
  bool quiet = false;               // no progress or report lines on stderr
  bool overwrite = false;           // replace a run already in out_dir (else refused)
  // Called after every step with the number of steps taken so far (tests use
  // it to raise SIGINT at a chosen step); empty: nothing.
  std::function<void(int64_t steps)> after_step;
  // Every flag's value as given to `basin train`, stored in the checkpoint so a
  // resumed run can restore them (train.cpp fills it; tests may leave it empty).
  std::map<std::string, std::string> flags;
};

struct TrainSummary {
  // How the run stands: "finished" (all epochs), "interrupted" (--stop-after
  // or SIGINT; a checkpoint holds the position) or "diverged" (the optimizer
  // gave up at diverged_step; the checkpoint is the last good epoch's).
  std::string status;
  std::string reason;             // interrupted / diverged: why
  int64_t diverged_step = -1;
  bool already_finished = false;  // --resume of a finished run: nothing was run or written
  std::vector<std::string> warnings;  // settings that do nothing (also printed)
  bool completed = false;         // reached the last epoch (false when stopped by stop_after)
  int64_t epochs_done = 0;        // total, including those before a resume
  int64_t steps = 0;              // global steps taken, including before a resume
  double final_test_accuracy = -1;  // -1: never evaluated
  double best_test_accuracy = -1;
  int64_t best_epoch = -1;        // 1-based
  double final_train_loss = 0;
  double final_memorization = 0;
  double realised_noise_rate = 0;
  int64_t skipped_steps = 0;
  double wall_time_s = 0;         // this invocation
  std::string out_dir, checkpoint;
};

// Trains, or continues config.resume. Refuses (basin::Error) an out_dir that
// already holds a run unless config.overwrite or it is the run being resumed.
// SIGINT stops at the next step boundary with a checkpoint (status "interrupted").
TrainSummary run_training(const TrainConfig& config);

// The shell command that continues the run in `out_dir`.
std::string resume_command(const std::string& out_dir);

// The seeds the trainer derives from --seed (distinct streams per consumer).
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace basin::apps
