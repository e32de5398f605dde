// The training loop; see trainer.h. The order of work inside an epoch is fixed
// (shuffle from (seed, epoch), augmentation from one checkpointed Generator,
// optimizer state in the arena), which is what makes a resumed CPU run
// bit-identical to an uninterrupted one, from an epoch boundary or from the
// middle of an epoch (a SIGINT checkpoint).
#include "apps/trainer.h"

#include <omp.h>
#include <signal.h>

#include <chrono>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "apps/checkpoint.h"
#include "apps/dataset_spec.h"
#include "apps/evaluation.h"
#include "apps/step_dump.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/progress.h"
#include "apps/run_folder.h"
#include "apps/train_flags.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "data/augment.h"
#include "data/strong_augment.h"
#include "data/batch_iterator.h"
#include "data/noise.h"
#include "nn/models.h"
#include "nn/state_dict.h"
#include "optim/captured_step.h"
#include "optim/factory.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

namespace basin::apps {
namespace {
namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr const char* kCheckpointFormat = "basin-train-checkpoint-1";
constexpr const char* kTrainerPrefix = "trainer.";

// --- SIGINT: a flag polled at step boundaries --------------------------------

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_sigint(int) { g_interrupted = 1; }

// Installs on_sigint for the lifetime of a run. SA_RESETHAND: a second Ctrl-C
// gets the default action, so a stuck run can still be killed.
class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &previous_);
  }
  ~SigintGuard() { sigaction(SIGINT, &previous_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;
  static bool fired() { return g_interrupted != 0; }

 private:
  struct sigaction previous_ {};
};

// --- the settings a checkpoint must agree with -------------------------------

// optim::describe's "name=value" pairs.
std::vector<std::pair<std::string, std::string>> optim_settings(const optim::OptimConfig& c) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string text = optim::describe(c);
  size_t from = 0;
  while (from < text.size()) {
    size_t end = text.find(' ', from);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(from, end - from);
    const size_t eq = item.find('=');
    if (eq != std::string::npos) out.push_back({item.substr(0, eq), item.substr(eq + 1)});
    from = end + 1;
  }
  return out;
}

// The optimizer options the trainer sets itself (seed, length) rather than the user.
bool trainer_set_option(const std::string& name) {
  return name == "seed" || name == "epochs" || name == "steps_per_epoch";
}

struct IdentityEntry {
  std::string key;    // checkpoint metadata key
  std::string label;  // the flag a user changes it with
  std::string value;
};

// Everything that decides the arithmetic of a step. --epochs is not here: a
// resumed run may be extended (see the resume section of README.md).
std::vector<IdentityEntry> identity(const TrainConfig& c) {
  char width[32];
  std::snprintf(width, sizeof width, "%.17g", c.width);
  std::vector<IdentityEntry> out = {
      {"train.model", "--model", c.model},
      {"train.width", "--width", width},
      {"train.dataset", "--dataset", c.dataset},
      {"train.train_limit", "--train-limit", std::to_string(c.train_limit)},
      {"train.normalization", "--normalization/--mean/--std/--resize/--channels", c.normalization},
      {"train.augment", "--augment", c.augment ? "true" : "false"},
      {"train.noise", "--noise", c.noise},
      {"train.noise_seed", "--noise-seed", std::to_string(c.noise_seed)},
      {"train.batch_size", "--batch-size", std::to_string(c.batch_size)},
      {"train.seed", "--seed", std::to_string(c.seed)}};
  if (c.ido.enabled) {  // only then, so plain runs' checkpoints keep their identity
    out.push_back({"train.method", "--method", "ido"});
    out.push_back({"train.stage2_epochs", "--stage2-epochs", std::to_string(c.ido.stage2_epochs)});
    out.push_back({"train.strong_magnitude", "--strong-magnitude", std::to_string(c.ido.magnitude)});
    out.push_back({"train.ido_mixture", "--ido-mixture", c.ido.per_class ? "per-class" : "single"});
  }
  for (const auto& [name, value] : optim_settings(c.optim)) {
    if (trainer_set_option(name)) continue;
    std::string label = "--" + name;
    for (char& ch : label)
      if (ch == '_') ch = '-';
    if (name == "method") label = "--optimizer";
    if (name == "schedule" || name == "milestones" || name == "gamma") label = "--schedule (" + name + ")";
    out.push_back({"train.optim." + name, label, value});
  }
  return out;
}

// --- per-epoch running sums ----------------------------------------------------

// Running sums of one epoch, from the pass-1 outputs the optimizer returns.
struct EpochStats {
  int64_t samples = 0, correct_noisy = 0, correct_clean = 0;
  int64_t mislabelled = 0, memorized = 0;  // noisy != clean, and predicted as the noisy label
  double loss_sum = 0;
  int64_t steps = 0, skipped = 0;
  double loss() const { return samples ? loss_sum / samples : 0.0; }
  double acc_noisy() const { return samples ? static_cast<double>(correct_noisy) / samples : 0.0; }
  double acc_clean() const { return samples ? static_cast<double>(correct_clean) / samples : 0.0; }
  double memorization() const { return mislabelled ? static_cast<double>(memorized) / mislabelled : 0.0; }
  // Accuracy against the given labels, over the samples whose given label is
  // right (equals the clean one) and over those whose label is wrong; NaN
  // (null in the log) when there were none.
  double acc_right_labels() const {
    const int64_t right = samples - mislabelled;
    return right ? static_cast<double>(correct_noisy - memorized) / right : std::nan("");
  }
  double acc_wrong_labels() const {
    return mislabelled ? static_cast<double>(memorized) / mislabelled : std::nan("");
  }

  // Exact text form, for a checkpoint taken in the middle of an epoch.
  std::string text() const {
    return join_doubles({static_cast<double>(samples), static_cast<double>(correct_noisy),
                         static_cast<double>(correct_clean), static_cast<double>(mislabelled),
                         static_cast<double>(memorized), loss_sum, static_cast<double>(steps),
                         static_cast<double>(skipped)});
  }
  static EpochStats from_text(const std::string& text, const std::string& what) {
    const std::vector<double> v = split_doubles(text, what);
    BASIN_CHECK(v.size() == 8, what, ": expected 8 numbers, got ", v.size());
    EpochStats s;
    s.samples = static_cast<int64_t>(v[0]);
    s.correct_noisy = static_cast<int64_t>(v[1]);
    s.correct_clean = static_cast<int64_t>(v[2]);
    s.mislabelled = static_cast<int64_t>(v[3]);
    s.memorized = static_cast<int64_t>(v[4]);
    s.loss_sum = v[5];
    s.steps = static_cast<int64_t>(v[6]);
    s.skipped = static_cast<int64_t>(v[7]);
    return s;
  }
};

struct BatchCounts {
  int64_t correct_noisy = 0, correct_clean = 0, mislabelled = 0, memorized = 0;
};

// One read: predictions and both label sets of the batch, stacked.
BatchCounts count_batch(const Tensor& logits, const Tensor& noisy_labels, const Tensor& clean_labels) {
  const int64_t b = logits.size(0);
  const std::vector<int64_t> all =
      concat({argmax(logits, 1), noisy_labels.reshape({b}), clean_labels.reshape({b}).to(noisy_labels.device())}, 0)
          .to_vector<int64_t>();
  const std::vector<int64_t> pred(all.begin(), all.begin() + b), noisy(all.begin() + b, all.begin() + 2 * b),
      clean(all.begin() + 2 * b, all.end());
  BatchCounts c;
  for (size_t i = 0; i < pred.size(); ++i) {
    c.correct_noisy += pred[i] == noisy[i];
    c.correct_clean += pred[i] == clean[i];
    if (noisy[i] != clean[i]) {
      c.mislabelled += 1;
      c.memorized += pred[i] == noisy[i];
    }
  }
  return c;
}

class JsonLog {
 public:
  JsonLog(const std::string& path, bool append) : out_(path, append ? std::ios::app : std::ios::trunc) {
    BASIN_CHECK(out_.good(), "cannot open log '", path, "' for writing");
  }
  void write(const JsonObject& line) {
    out_ << line.str() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

bool same_folder(const std::string& a, const std::string& b) {
  return fs::weakly_canonical(fs::absolute(a)) == fs::weakly_canonical(fs::absolute(b));
}

std::string shell_quoted(const std::string& text) {
  bool plain = !text.empty();
  for (const char c : text)
    plain &= std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' || c == '-' ||
             c == ':' || c == '+' || c == ',' || c == '=';
  if (plain) return text;
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// --- one run -------------------------------------------------------------------

// A run's phases as methods, in the order run() calls them: check the request
// against what is on disk (before writing anything), build data, model and
// optimizer, restore a checkpoint, open the log, train epoch by epoch, and
// finish with summary.json and an end line whatever the outcome.
class TrainingRun {
 public:
  explicit TrainingRun(const TrainConfig& cfg) : cfg_(cfg), progress_(cfg.quiet) {}
  TrainSummary run();

 private:
  void check_config() const;
  // Loads and checks the checkpoint to resume; true when the run is already
  // finished and there is nothing to do.
  bool open_resume();
  void check_out_dir() const;
  void build();
  void restore();
  void warn_about_idle_settings();
  void open_log();
  // Runs epochs until the end, --stop-after, SIGINT or divergence.
  void train();
  // One step; false when the run must stop (SIGINT or divergence).
  bool train_step(const data::Batch& batch, int64_t epoch, EpochStats& st);
  // Folds the optimizer's resolved steps into the epoch's sums and logs their
  // skips; returns the last one's batch counts.
  BatchCounts absorb_synced(const std::vector<optim::StepResult>& results, EpochStats& st);
  // A "training diverged" error from the optimizer: records it and returns false
  // (the run stops); any other error is rethrown.
  bool diverged(const Error& e, EpochStats& st);
  // The batches of the steps the optimizer has not resolved yet, oldest first.
  struct PendingBatch {
    Tensor noisy_labels, clean_labels;
    int64_t global_step = 0, epoch = 0, size = 0;
  };
  std::vector<PendingBatch> pending_batches_;
  void write_step_line(const optim::StepResult& r, const BatchCounts& counts, int64_t batch_size, int64_t epoch,
                       double step_s);
  void finish_epoch(int64_t epoch, const EpochStats& st, double epoch_s);
  // IDO (apps/ido_stage.h): the run's length over both stages, whether an
  // epoch (0-based) belongs to stage 2, the stage-2 start, its fresh optimizer,
  // and the label-wave / mixture fields of an epoch line.
  int64_t total_epochs() const { return cfg_.epochs + (cfg_.ido.enabled ? cfg_.ido.stage2_epochs : 0); }
  bool in_stage2(int64_t epoch) const { return cfg_.ido.enabled && epoch >= cfg_.epochs; }
  int64_t stage_step(int64_t step) const { return in_stage2(step / steps_per_epoch_) ? step - cfg_.epochs * steps_per_epoch_ : step; }
  void begin_stage2();
  void make_stage2_optimizer(std::shared_ptr<optim::IdoLoss> loss);
  void ido_epoch_fields(int64_t epoch, JsonObject& line);
  void save_checkpoint_at(int64_t completed_epochs, const EpochStats* partial);
  void finish();
  std::string out_path(const std::string& name) const { return (fs::path(cfg_.out_dir) / name).string(); }

  const TrainConfig& cfg_;
  const Clock::time_point t_start_ = Clock::now();
  Device device_ = Device::cpu();
  Progress progress_;
  TrainSummary summary_;
  std::optional<Checkpoint> resume_ck_;
  std::string resume_dir_;       // the folder of the run being resumed
  int64_t epochs_before_ = 0;    // the resumed run's --epochs

  data::Dataset train_, test_;
  data::NoisyLabels noise_;
  std::shared_ptr<nn::ResNet> model_;
  optim::OptimConfig oc_;
  std::unique_ptr<data::BatchIterator> iterator_;
  int64_t steps_per_epoch_ = 0;
  optim::FlatParams flat_;
  std::unique_ptr<optim::SampleTracker> tracker_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::CapturedStep> captured_;  // --cuda-graph: stage 1's plain steps (reset with opt_)
  Generator augment_gen_;
  AugmentSpec train_spec_, eval_spec_;
  std::unique_ptr<JsonLog> log_;
  std::unique_ptr<IdoStage> ido_;
  data::StrongAugmentSpec strong_spec_;

  int64_t start_epoch_ = 0, global_step_ = 0;
  EpochStats resumed_partial_;  // the first epoch's sums so far when resuming mid-epoch
  EpochStats last_epoch_;       // the last completed epoch's
  int64_t steps_this_run_ = 0, steps_done_this_run_ = 0;
  Clock::time_point t_loop_, t_epoch_;
};

void TrainingRun::check_config() const {
  BASIN_CHECK(cfg_.epochs > 0, "epochs must be > 0, got ", cfg_.epochs);
  BASIN_CHECK(cfg_.batch_size > 0, "batch size must be > 0, got ", cfg_.batch_size);
  BASIN_CHECK(cfg_.width > 0, "width must be > 0, got ", cfg_.width);
  BASIN_CHECK(cfg_.eval_every > 0, "eval-every must be > 0, got ", cfg_.eval_every);
  BASIN_CHECK(cfg_.log_every >= 0, "log-every must be >= 0, got ", cfg_.log_every);
  BASIN_CHECK(cfg_.stop_after >= 0, "stop-after must be >= 0, got ", cfg_.stop_after);
  BASIN_CHECK(cfg_.threads >= 0, "threads must be >= 0, got ", cfg_.threads);
  BASIN_CHECK(!cfg_.ido.enabled || cfg_.ido.stage2_epochs > 0, "IDO: stage-2 epochs must be > 0, got ",
              cfg_.ido.stage2_epochs);
}

bool TrainingRun::open_resume() {
  const std::string ck_file = checkpoint_path(cfg_.resume);
  resume_dir_ = fs::path(ck_file).parent_path().string();
  if (resume_dir_.empty()) resume_dir_ = ".";
  // A diverged run may have no checkpoint at all: its summary speaks first.
  const RunStatus status = read_run_status(resume_dir_);
  BASIN_CHECK(status.status != "diverged", "cannot resume '", resume_dir_, "': the run diverged at step ",
              status.step, " (", status.reason, "); resuming would repeat the same steps. Start a new run "
              "(e.g. with a lower --lr or --rho) in another --out.");
  resume_ck_ = load_checkpoint(ck_file);
  const Checkpoint& ck = *resume_ck_;
  BASIN_CHECK(ck.has_meta("format") && ck.meta("format") == kCheckpointFormat, "checkpoint '", ck.path,
              "' is not a basin training checkpoint (metadata 'format' should be ", kCheckpointFormat, ")");
  for (const IdentityEntry& e : identity(cfg_))
    BASIN_CHECK(ck.meta(e.key) == e.value, "cannot resume from '", ck.path, "': ", e.label,
                " cannot change on resume: it was '", ck.meta(e.key), "' there, and is '", e.value, "' now");
  epochs_before_ = ck.meta_i64("train.epochs");
  // IDO's stage boundary is a function of --epochs: it cannot move under a started run.
  BASIN_CHECK(!cfg_.ido.enabled || cfg_.epochs == epochs_before_, "cannot resume '", ck.path,
              "' with --epochs ", cfg_.epochs, ": an IDO run's stage 1 has ", epochs_before_,
              " epochs, fixed when it started");
  const int64_t done = ck.meta_i64("epoch"), step = ck.meta_i64("step");
  const bool mid_epoch = ck.has_meta("epoch_partial");
  if (done == epochs_before_ + total_epochs() - cfg_.epochs && !mid_epoch && cfg_.epochs == epochs_before_) {
    summary_.already_finished = true;
    summary_.status = "finished";
    summary_.completed = true;
    summary_.epochs_done = done;
    summary_.steps = step;
    summary_.final_test_accuracy = ck.meta_f64("last_test_accuracy");
    summary_.best_test_accuracy = ck.meta_f64("best_test_accuracy");
    summary_.best_epoch = ck.meta_i64("best_epoch");
    summary_.out_dir = resume_dir_;
    summary_.checkpoint = ck.path;
    return true;
  }
  BASIN_CHECK(total_epochs() > done || (total_epochs() == done && !mid_epoch), "cannot resume '", ck.path,
              "' with --epochs ", cfg_.epochs, ": it has already trained ", done, " epochs",
              mid_epoch ? " and part of the next" : "");
  return false;
}

void TrainingRun::check_out_dir() const {
  if (resume_ck_ && same_folder(cfg_.out_dir, resume_dir_)) return;  // continuing in place
  BASIN_CHECK(cfg_.overwrite || !holds_run(cfg_.out_dir), "--out '", cfg_.out_dir,
              "' already holds a run (", kRunLogFile, ", ", kSummaryFile, " or ", kCheckpointFile,
              "): continue it with --resume ", shell_quoted(cfg_.out_dir),
              ", choose another --out, or give --overwrite to replace it");
}

void TrainingRun::build() {
  if (cfg_.threads > 0) omp_set_num_threads(cfg_.threads);
  device_ = Device::parse(cfg_.device);
  BASIN_CHECK(has_backend(device_.type), "device '", cfg_.device,
              "' is not available in this build (built without CUDA, or no GPU)");
#if defined(BASIN_HAS_CUDA)
  // Deterministic mode is a process-wide switch of the CUDA backend; the CPU
  // backend is deterministic whatever it says.
  if (device_.is_cuda()) cuda::set_deterministic(cfg_.deterministic);
#endif

  // Data and label noise.
  train_ = load_dataset(cfg_.dataset, "train", cfg_.train_limit, cfg_.normalization);
  test_ = load_dataset(cfg_.dataset, "test", cfg_.test_limit, cfg_.normalization);
  BASIN_CHECK(train_.num_classes == test_.num_classes && train_.channels() == test_.channels(), "dataset '",
              cfg_.dataset, "': train and test splits disagree (", train_.num_classes, " vs ", test_.num_classes,
              " classes, ", train_.channels(), " vs ", test_.channels(), " channels)");
  test_.mean = train_.mean;  // the test split is normalised with the training constants
  test_.std = train_.std;
  noise_ = data::apply_noise(train_, cfg_.noise, cfg_.noise_seed);
  progress_.line(cat("data: ", train_.name, " train ", train_.size(), " test ", test_.size(), " images ",
                     train_.channels(), "x", train_.height(), "x", train_.width(), ", ", train_.num_classes,
                     " classes"));
  if (!train_.provenance.empty()) progress_.line(train_.provenance);
  if (noise_.changed > 0 || cfg_.noise != "none")
    progress_.line(data::format_noise_report(noise_, train_.class_names));

  // Model, arena, optimizer.
  model_ = nn::make_model(cfg_.model, train_.num_classes, train_.channels(), cfg_.width, derive_seed(cfg_.seed, 1));
  model_->train();
  if (!cfg_.init.empty() && cfg_.resume.empty())
    progress_.line(init_model(*model_, cfg_.init, {cfg_.model, cfg_.width, train_.num_classes}));
  oc_ = cfg_.optim;
  oc_.epochs = cfg_.epochs;
  oc_.seed = derive_seed(cfg_.seed, 4);
  data::BatchIteratorOptions it_opt;
  it_opt.batch_size = cfg_.batch_size;
  it_opt.shuffle = true;
  it_opt.drop_last = train_.size() >= cfg_.batch_size;  // BatchNorm dislikes a runt last batch
  it_opt.seed = derive_seed(cfg_.seed, 2);
  it_opt.device = device_;
  iterator_ = std::make_unique<data::BatchIterator>(train_, noise_.noisy, it_opt);
  steps_per_epoch_ = iterator_->steps_per_epoch();
  BASIN_CHECK(steps_per_epoch_ > 0, "no training steps: ", train_.size(), " samples, batch size ", cfg_.batch_size);
  oc_.steps_per_epoch = steps_per_epoch_;
  optim::validate(oc_);
  flat_ = optim::bind(*model_, device_, optim::bind_options(oc_));
  tracker_ = std::make_unique<optim::SampleTracker>(train_.size(), device_, oc_.ema_beta);
  opt_ = optim::make_optimizer(oc_, flat_, tracker_.get());
  if (cfg_.cuda_graph)  // refuses the CPU and CA-SAM with the reason
    captured_ = std::make_unique<optim::CapturedStep>(*opt_, [this](const Tensor& x) { return model_->forward(x); });
  augment_gen_ = Generator(derive_seed(cfg_.seed, 3));
  train_spec_ = cfg_.augment ? data::train_augment_spec(train_) : data::eval_augment_spec(train_);
  if (cfg_.ido.enabled) {
    ido_ = std::make_unique<IdoStage>(cfg_.ido, noise_.noisy.to(Device::cpu()).to_vector<int64_t>(), train_.num_classes);
    strong_spec_.magnitude = cfg_.ido.magnitude;
  }
  eval_spec_ = data::eval_augment_spec(train_);
}

void TrainingRun::restore() {
  const Checkpoint& ck = *resume_ck_;
  ck.load_model(*model_);  // its errors name the checkpoint already
  try {
    flat_.check_bound();
    NamedTensors optim_state, ido_state;
    for (const auto& [n, t] : ck.other_tensors())
      if (n.rfind("ido.", 0) == 0) ido_state.push_back({n, t});
      else if (n.rfind(kTrainerPrefix, 0) != 0) optim_state.push_back({n, t});
    if (ido_) {
      ido_->load_state(ido_state);
      // A checkpoint taken after a stage-2 step holds the stage-2 optimizer's state.
      if (ck.meta_i64("step") > cfg_.epochs * steps_per_epoch_) make_stage2_optimizer(ido_->loss(device_));
    }
    opt_->load_state(optim_state);
  } catch (const Error& e) {
    fail(cat("cannot resume from checkpoint '", ck.path, "': ", e.what()));
  }
  const std::vector<int64_t> saved_noisy = ck.tensor("trainer.noisy_labels").to_vector<int64_t>();
  BASIN_CHECK(saved_noisy == noise_.noisy.to_vector<int64_t>(), "cannot resume from '", ck.path,
              "': its noisy training labels differ from the ones this run derives (different data files?)");
  augment_gen_.set_state(ck.meta_u64("augment_seed"), ck.meta_u64("augment_offset"));
  start_epoch_ = ck.meta_i64("epoch");
  global_step_ = ck.meta_i64("step");
  summary_.best_test_accuracy = ck.meta_f64("best_test_accuracy");
  summary_.best_epoch = ck.meta_i64("best_epoch");
  summary_.final_test_accuracy = ck.meta_f64("last_test_accuracy");
  summary_.skipped_steps = ck.meta_i64("skipped_steps");
  if (ck.has_meta("last_epoch_sums")) last_epoch_ = EpochStats::from_text(ck.meta("last_epoch_sums"), ck.path);
  if (ck.has_meta("epoch_partial")) resumed_partial_ = EpochStats::from_text(ck.meta("epoch_partial"), ck.path);
  const int64_t in_epoch = global_step_ - start_epoch_ * steps_per_epoch_;
  BASIN_CHECK(start_epoch_ >= 0 && start_epoch_ <= total_epochs() && in_epoch >= 0 && in_epoch < steps_per_epoch_ &&
                  (in_epoch == 0) == !ck.has_meta("epoch_partial"),
              "checkpoint '", ck.path, "': position epoch ", start_epoch_, " step ", global_step_, " does not fit ",
              total_epochs(), " epochs of ", steps_per_epoch_, " steps");
  progress_.line(cat("resumed from ", ck.path, " at epoch ", start_epoch_, ", step ", global_step_,
                     in_epoch ? cat(" (", in_epoch, " steps into epoch ", start_epoch_ + 1, ")") : std::string()));
  if (cfg_.epochs != epochs_before_) {
    // The schedule is a function of the run's length: from here on it is that
    // of a cfg_.epochs run (README.md, "Runs").
    optim::OptimConfig before = oc_;
    before.epochs = epochs_before_;
    const optim::Schedule old_schedule(optim::schedule_config(before));
    progress_.line(cat("epochs ", epochs_before_, " -> ", cfg_.epochs, ": the learning-rate schedule is now that "
                       "of a ", cfg_.epochs, "-epoch run; lr at step ", global_step_, ": ",
                       old_schedule.lr(global_step_), " -> ", opt_->schedule().lr(global_step_)));
  }
}

void TrainingRun::warn_about_idle_settings() {
  auto warn = [&](const std::string& text) {
    summary_.warnings.push_back(text);
    progress_.warn(text);
  };
  const int64_t total_steps = total_epochs() * steps_per_epoch_;
  if (oc_.method == "ncsam" || oc_.method == "casam") {
    const double warmup = optim::resolved_warmup_epochs(oc_);
    if (warmup >= static_cast<double>(cfg_.epochs))
      warn(cat(oc_.method == "ncsam" ? "NCSAM" : "CA-SAM", "'s warm-up (--warmup-epochs ", warmup,
               ") covers all ", cfg_.epochs, " epochs: every step is plain SGD"));
  }
  if (oc_.schedule == "multistep") {
    for (size_t i = 1; i < oc_.milestones.size(); ++i)
      if (oc_.milestones[i] <= oc_.milestones[i - 1]) {
        warn(cat("--schedule milestones ", join_doubles(oc_.milestones), " are not in increasing order "
                 "(each still multiplies the lr by gamma from its epoch on)"));
        break;
      }
    for (const double m : oc_.milestones)
      if (m >= static_cast<double>(cfg_.epochs))
        warn(cat("--schedule milestone ", m, " is at or past the end of the run (", cfg_.epochs,
                 " epochs): it never takes effect"));
  }
  if (cfg_.dump_step >= total_steps)
    warn(cat("--dump-step ", cfg_.dump_step, " is past the last step (", total_epochs(), " epochs x ", steps_per_epoch_,
             " steps: steps 0 to ", total_steps - 1, "): nothing will be dumped"));
  else if (cfg_.dump_step >= 0 && cfg_.dump_step < global_step_)
    warn(cat("--dump-step ", cfg_.dump_step, " was taken before the resumed position (step ", global_step_,
             "): nothing will be dumped"));
}

void TrainingRun::open_log() {
  const bool resuming = resume_ck_.has_value();
  const bool in_place = resuming && same_folder(cfg_.out_dir, resume_dir_);
  fs::create_directories(cfg_.out_dir);
  if (!in_place && cfg_.overwrite) remove_run_files(cfg_.out_dir);
  const std::string log_path = out_path(kRunLogFile);
  if (!resuming) {
    log_ = std::make_unique<JsonLog>(log_path, /*append=*/false);
    // 64-bit unsigned, written as plain decimal numbers.
    JsonObject derived;
    derived.add_raw("init", std::to_string(derive_seed(cfg_.seed, 1)))
        .add_raw("shuffle", std::to_string(derive_seed(cfg_.seed, 2)))
        .add_raw("augment", std::to_string(derive_seed(cfg_.seed, 3)))
        .add_raw("optimizer", std::to_string(derive_seed(cfg_.seed, 4)));
    JsonObject optimizer;
    for (const auto& [name, value] : optim_settings(oc_))
      if (name != "seed") optimizer.add_typed(name, value);
    JsonObject start;
    start.add("type", "start").add("step", int64_t{0}).add("model", cfg_.model).add("width", cfg_.width)
        .add("parameters", model_->num_parameters()).add("dataset", cfg_.dataset)
        .add("train_size", train_.size()).add("test_size", test_.size()).add("device", device_.str())
        .add("threads", static_cast<int64_t>(omp_get_max_threads())).add("epochs", total_epochs())
        .add("steps_per_epoch", steps_per_epoch_).add("seed", static_cast<int64_t>(cfg_.seed))
        .add_raw("derived_seeds", derived.str()).add_raw("optimizer", optimizer.str())
        .add("noise", cfg_.noise).add("noise_seed", static_cast<int64_t>(cfg_.noise_seed))
        .add("realised_noise_rate", noise_.realised_rate).add("noisy_samples", noise_.changed)
        .add("transition", noise_.transition).add("normalization_mean", train_.mean)
        .add("normalization_std", train_.std).add_raw("flags", train_flags_json(cfg_.flags));
    log_->write(start);
    return;
  }
  // Resuming: the log keeps what happened up to the checkpoint (in this
  // folder, or copied from the resumed one), then says where it continues.
  const LogCut cut = cut_log_at_step((fs::path(resume_dir_) / kRunLogFile).string(), global_step_);
  std::string text;
  for (const std::string& line : cut.kept) text += line + "\n";
  write_text_atomic(log_path, text);
  if (!in_place) fs::copy_file(resume_ck_->path, out_path(kCheckpointFile), fs::copy_options::overwrite_existing);
  log_ = std::make_unique<JsonLog>(log_path, /*append=*/true);
  JsonObject line;
  line.add("type", "resume").add("step", global_step_).add("epoch", start_epoch_).add("from", resume_ck_->path)
      .add("dropped_lines", cut.dropped).add("epochs", cfg_.epochs);
  if (cfg_.epochs != epochs_before_) line.add("epochs_before", epochs_before_);
  log_->write(line);
}

void TrainingRun::write_step_line(const optim::StepResult& r, const BatchCounts& counts, int64_t b, int64_t epoch,
                                  double step_s) {
  JsonObject line;
  line.add("type", "step").add("step", global_step_).add("epoch", epoch + 1).add("loss", r.loss)
      .add("acc_noisy", static_cast<double>(counts.correct_noisy) / b)
      .add("acc_clean", static_cast<double>(counts.correct_clean) / b).add("lr", r.lr)
      .add("grad_norm", r.grad_norm).add("perturb_norm", r.perturb_norm).add("aux_grad_norm", r.aux_grad_norm)
      .add("descent_grad_norm", r.descent_grad_norm).add("s_t", r.s_t).add("cos_g_e", r.cos_g_e)
      .add("cos_g_aux", r.cos_g_aux).add("cos_g_g2", r.cos_g_g2).add("loss_perturbed", r.loss_perturbed)
      .add("perturbed", r.perturbed).add("comp_ratio", r.comp_ratio).add("batch_wrong_share", r.batch_wrong_share)
      .add("chosen_wrong_share", r.chosen_wrong_share);
  if (r.num_clean >= 0) line.add("num_clean", r.num_clean).add("fallback", r.fallback);
  line.add("images_per_s", b / step_s).add("elapsed_s", seconds_since(t_start_));
  log_->write(line);
}

BatchCounts TrainingRun::absorb_synced(const std::vector<optim::StepResult>& results, EpochStats& st) {
  BASIN_CHECK(results.size() <= pending_batches_.size(), "trainer: the optimizer resolved ", results.size(),
              " step(s), the trainer has ", pending_batches_.size(), " pending");
  BatchCounts counts;
  for (size_t i = 0; i < results.size(); ++i) {
    const optim::StepResult& r = results[i];
    const PendingBatch& pb = pending_batches_[i];
    st.steps += 1;
    if (r.skipped) {
      st.skipped += 1;
      summary_.skipped_steps += 1;
      progress_.line(cat("step ", pb.global_step, " skipped: ", r.skip_reason, " (", r.consecutive_skips, " in a row)"));
      JsonObject skip;
      skip.add("type", "skip").add("step", pb.global_step).add("epoch", pb.epoch + 1).add("reason", r.skip_reason)
          .add("consecutive", r.consecutive_skips);
      log_->write(skip);
      continue;
    }
    counts = count_batch(r.logits, pb.noisy_labels, pb.clean_labels);
    st.samples += pb.size;
    st.loss_sum += r.loss * static_cast<double>(pb.size);
    st.correct_noisy += counts.correct_noisy;
    st.correct_clean += counts.correct_clean;
    st.mislabelled += counts.mislabelled;
    st.memorized += counts.memorized;
  }
  pending_batches_.erase(pending_batches_.begin(), pending_batches_.begin() + static_cast<std::ptrdiff_t>(results.size()));
  return counts;
}

bool TrainingRun::train_step(const data::Batch& batch, int64_t epoch, EpochStats& st) {
  const auto t_step = Clock::now();
  // One augmented batch serves both SAM passes (docs/algorithms.md "The training step").
  const Tensor x = cfg_.augment ? data::augment(batch.images, train_spec_, augment_gen_)
                                : data::normalize(batch.images, train_spec_);
  // IDO's stage 2: a strong view too, each view its own forward pass, stacked view-major.
  const bool two_views = in_stage2(epoch);
  const Tensor strong = two_views ? data::strong_augment(batch.images, train_spec_, strong_spec_, augment_gen_) : Tensor();
  const optim::Closure closure = [&](optim::Pass) {
    return two_views ? concat({model_->forward(x), model_->forward(strong)}, 0) : model_->forward(x);
  };
  optim::StepInput in;
  in.labels = batch.noisy_labels;
  in.indices = batch.indices;
  in.clean_labels = batch.clean_labels;  // only for the wrong-share observables of logged steps
  // Stage 2 has its own schedule: epochs, progress and steps count from its start.
  const int64_t stage_epoch = two_views ? epoch - cfg_.epochs : epoch;
  in.epoch = stage_epoch;
  in.progress = (static_cast<double>(stage_epoch) + static_cast<double>(batch.step) / steps_per_epoch_) /
                static_cast<double>(two_views ? cfg_.ido.stage2_epochs : cfg_.epochs);
  in.step = stage_step(global_step_);
  const bool log_this = cfg_.log_every > 0 && global_step_ % cfg_.log_every == 0;
  in.observe = log_this;
  if (cfg_.dump_step >= 0 && global_step_ == cfg_.dump_step)
    request_step_dump(in, cfg_, two_views ? concat({x, strong}, 0) : x, train_.num_classes, global_step_);
  // Device values are read only on logged steps, at an epoch's last step and
  // when stopping: every other step leaves its scalars on the device
  // (docs/optimizers.md, "The step on the device"); the sync then resolves
  // the steps in between (their skips, their share of the epoch's sums).
  const bool epoch_end = batch.step + 1 == steps_per_epoch_;
  in.read_back = log_this || epoch_end || !in.dump_path.empty();
  pending_batches_.push_back({batch.noisy_labels, batch.clean_labels, global_step_, epoch, batch.size()});
  try {
    optim::StepResult r = captured_ && !two_views ? captured_->step(x, in) : opt_->step(closure, in);
    if (in.read_back) {
      std::vector<optim::StepResult> resolved = opt_->take_resolved_earlier();
      resolved.push_back(std::move(r));
      const BatchCounts counts = absorb_synced(resolved, st);
      if (log_this && !resolved.back().skipped)
        write_step_line(resolved.back(), counts, batch.size(), epoch, seconds_since(t_step));
    }
  } catch (const Error& e) {
    return diverged(e, st);
  }
  global_step_ += 1;
  steps_done_this_run_ += 1;

  Progress::State ps;
  ps.epoch = epoch + 1;
  ps.epochs = total_epochs();
  ps.step = batch.step + 1;
  ps.steps = steps_per_epoch_;
  ps.loss = st.loss();
  ps.accuracy = st.acc_noisy();
  ps.images_per_s = st.samples / std::max(seconds_since(t_epoch_), 1e-9);
  ps.eta_s = seconds_since(t_loop_) / steps_done_this_run_ *
             static_cast<double>(steps_this_run_ - steps_done_this_run_);
  progress_.update(ps);
  if (cfg_.after_step) cfg_.after_step(global_step_);
  if (!SigintGuard::fired()) return true;
  try {  // a checkpoint follows: resolve the pending steps now
    absorb_synced(opt_->sync(), st);
  } catch (const Error& e) {
    return diverged(e, st);
  }
  return false;
}

bool TrainingRun::diverged(const Error& e, EpochStats& st) {
  // optim::Optimizer::sync words its give-up error "training diverged"; any
  // other error is a bug or bad input and propagates.
  if (std::string(e.what()).find("training diverged") == std::string::npos) throw;
  // The sync resolved the steps up to the one that gave up: log the skips before it.
  std::vector<optim::StepResult> before = opt_->take_resolved_earlier();
  const int64_t failed = before.empty() ? global_step_ : pending_batches_.at(before.size() - 1).global_step;
  if (!before.empty()) before.pop_back();
  absorb_synced(before, st);
  summary_.status = "diverged";
  summary_.diverged_step = failed;
  summary_.reason = e.what();
  progress_.line(cat("step ", failed, ": ", e.what()));
  return false;
}

void TrainingRun::train() {
  const int64_t stop_epoch =
      cfg_.stop_after > 0 ? std::min(total_epochs(), start_epoch_ + cfg_.stop_after) : total_epochs();
  steps_this_run_ = stop_epoch * steps_per_epoch_ - global_step_;
  t_loop_ = Clock::now();
  const SigintGuard sigint;
  for (int64_t epoch = start_epoch_; epoch < stop_epoch; ++epoch) {
    const int64_t first_step = epoch == start_epoch_ ? global_step_ - epoch * steps_per_epoch_ : 0;
    iterator_->seek(epoch, first_step);
    EpochStats st = first_step > 0 ? resumed_partial_ : EpochStats{};
    if (cfg_.ido.enabled && epoch == cfg_.epochs && first_step == 0) begin_stage2();
    t_epoch_ = Clock::now();
    data::Batch batch;
    bool going = true;
    while (going && iterator_->next(batch)) going = train_step(batch, epoch, st);
    if (summary_.status == "diverged") return;
    const bool epoch_done = global_step_ == (epoch + 1) * steps_per_epoch_;
    if (epoch_done) finish_epoch(epoch, st, seconds_since(t_epoch_));
    if (!going && summary_.epochs_done < total_epochs()) {
      if (!epoch_done) save_checkpoint_at(epoch, &st);
      summary_.steps = global_step_;
      summary_.status = "interrupted";
      summary_.reason = cat("SIGINT at step ", global_step_);
      return;
    }
  }
  summary_.status = summary_.epochs_done == total_epochs() ? "finished" : "interrupted";
  if (summary_.status == "interrupted") summary_.reason = cat("--stop-after ", cfg_.stop_after);
}

void TrainingRun::finish_epoch(int64_t epoch, const EpochStats& st, double epoch_s) {
  double test_acc = -1, test_loss = -1;
  if ((epoch + 1) % cfg_.eval_every == 0 || epoch + 1 == total_epochs()) {
    const EvalResult ev = evaluate(*model_, test_, eval_spec_, device_, cfg_.eval_batch_size);
    test_acc = ev.accuracy;
    test_loss = ev.loss;
    summary_.final_test_accuracy = test_acc;
    if (test_acc > summary_.best_test_accuracy) {
      summary_.best_test_accuracy = test_acc;
      summary_.best_epoch = epoch + 1;
    }
  }
  JsonObject line;
  line.add("type", "epoch").add("epoch", epoch + 1).add("step", global_step_).add("train_loss", st.loss())
      .add("train_acc_noisy", st.acc_noisy()).add("train_acc_clean", st.acc_clean())
      .add("train_acc_right_labels", st.acc_right_labels()).add("train_acc_wrong_labels", st.acc_wrong_labels())
      .add("memorization", st.memorization()).add("mislabelled_seen", st.mislabelled)
      .add("skipped_steps", st.skipped);
  if (auto* casam = dynamic_cast<optim::CaSam*>(opt_.get())) {
    // How well the likely-clean split matches the truth we know (noisy == clean).
    const std::vector<float> mask = casam->clean_mask().to(DType::F32).to_vector<float>();
    const std::vector<int64_t> noisy = noise_.noisy.to_vector<int64_t>();
    const std::vector<int64_t> clean = train_.labels.to_vector<int64_t>();
    std::vector<uint8_t> predicted(mask.size()), truth(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) {
      predicted[i] = mask[i] > 0.5f;
      truth[i] = noisy[i] == clean[i];
    }
    const optim::SplitQuality q = optim::split_quality(predicted, truth, tracker_->wrong_event_values());
    line.add("clean_precision", q.precision).add("clean_recall", q.recall).add("wrong_event_auc", q.auc)
        .add("predicted_clean", q.predicted_clean);
  }
  if (noise_.changed > 0) {
    // Flagging the wrong labels: wrong events against the last training loss (docs/algorithms.md).
    const optim::NoisyLabelAuc auc = optim::noisy_label_auc(
        tracker_->wrong_event_values(), tracker_->last_loss_values(), tracker_->visit_values(),
        noise_.noisy.to(Device::cpu()).to_vector<int64_t>(), train_.labels.to(Device::cpu()).to_vector<int64_t>());
    line.add("noisy_auc_wrong_events", auc.wrong_events).add("noisy_auc_loss", auc.loss);
  }
  if (ido_) ido_epoch_fields(epoch, line);
  if (test_acc >= 0) line.add("test_acc", test_acc).add("test_loss", test_loss);
  line.add("lr", opt_->schedule().lr(stage_step(std::max<int64_t>(global_step_ - 1, 0))))
      .add("images_per_s", st.samples / std::max(epoch_s, 1e-9)).add("epoch_s", epoch_s)
      .add("elapsed_s", seconds_since(t_start_));
  log_->write(line);
  progress_.line(cat("epoch ", epoch + 1, "/", total_epochs(), in_stage2(epoch) ? " (IDO stage 2)" : "", ": train loss ", fixed(st.loss(), 4), ", acc ",
                     fixed(100 * st.acc_noisy(), 2), "% vs noisy labels, ", fixed(100 * st.acc_clean(), 2),
                     "% vs clean; memorization ", fixed(100 * st.memorization(), 2), "%",
                     test_acc >= 0 ? cat("; test acc ", fixed(100 * test_acc, 2), "%") : std::string(), " (",
                     format_duration(epoch_s), ")"));
  last_epoch_ = st;
  summary_.epochs_done = epoch + 1;
  summary_.steps = global_step_;
  save_checkpoint_at(epoch + 1, nullptr);
}

void TrainingRun::make_stage2_optimizer(std::shared_ptr<optim::IdoLoss> loss) {
  // Fresh: no momentum, its own cosine over the stage-2 epochs, its own stream.
  optim::OptimConfig stage2 = oc_;
  stage2.epochs = cfg_.ido.stage2_epochs;
  stage2.seed = derive_seed(cfg_.seed, 5);
  captured_.reset();  // stage 2 takes two views per sample: its steps run uncaptured
  opt_ = optim::make_optimizer(stage2, flat_, tracker_.get());
  opt_->set_loss(std::move(loss));
}

void TrainingRun::begin_stage2() {
  ido_->finish_stage1(cfg_.epochs, *model_);
  ido_->load_base(*model_);
  IdoFitReport report;
  make_stage2_optimizer(ido_->fit(tracker_->wrong_event_values(), kIdoFirstFitIterations, device_, &report));
  JsonObject line;
  line.add("type", "ido_stage2").add("step", global_step_).add("epoch", cfg_.epochs + 1)
      .add("base_epoch", ido_->base_epoch()).add("mixture_fits", report.fits)
      .add("mean_p_clean", report.mean_p_clean).add("mean_epsilon", report.mean_epsilon);
  log_->write(line);
  progress_.line(cat("IDO stage 2 from the base model of epoch ", ido_->base_epoch(), " (label wave); mean p_clean ",
                     fixed(report.mean_p_clean, 4), ", mean eps ", fixed(report.mean_epsilon, 4)));
}

void TrainingRun::ido_epoch_fields(int64_t epoch, JsonObject& line) {
  if (!in_stage2(epoch)) {
    const int64_t changed =
        ido_->record_stage1_epoch(epoch + 1, tracker_->last_prediction().to(Device::cpu()).to_vector<int64_t>(), *model_);
    if (epoch + 1 == cfg_.epochs) ido_->finish_stage1(epoch + 1, *model_);
    line.add("stage", int64_t{1}).add("changed_predictions", changed);
    if (ido_->base_epoch() >= 0) line.add("ido_base_epoch", ido_->base_epoch());
    return;
  }
  // The refit after every stage-2 epoch, from the current fit; the next epoch trains with it.
  IdoFitReport report;
  opt_->set_loss(ido_->fit(tracker_->wrong_event_values(), kIdoRefitIterations, device_, &report));
  line.add("stage", int64_t{2}).add("mixture_fits", report.fits).add("mean_p_clean", report.mean_p_clean)
      .add("mean_epsilon", report.mean_epsilon);
}

// `partial`: the sums of an epoch stopped part-way (a SIGINT), so a resume
// can finish that epoch's line as if it had never stopped.
void TrainingRun::save_checkpoint_at(int64_t completed_epochs, const EpochStats* partial) {
  std::map<std::string, std::string> meta;
  for (const IdentityEntry& e : identity(cfg_)) meta[e.key] = e.value;
  meta["train.epochs"] = std::to_string(cfg_.epochs);
  meta["format"] = kCheckpointFormat;
  meta["model"] = cfg_.model;
  meta["width"] = meta.at("train.width");
  meta["num_classes"] = std::to_string(train_.num_classes);
  meta["in_channels"] = std::to_string(train_.channels());
  meta["image_height"] = std::to_string(train_.height());
  meta["image_width"] = std::to_string(train_.width());
  meta["dataset_name"] = train_.name;
  meta["normalization.mean"] = join_doubles(train_.mean);
  meta["normalization.std"] = join_doubles(train_.std);
  meta["epoch"] = std::to_string(completed_epochs);
  meta["step"] = std::to_string(global_step_);
  if (partial) meta["epoch_partial"] = partial->text();
  meta["augment_seed"] = std::to_string(augment_gen_.seed());
  meta["augment_offset"] = std::to_string(augment_gen_.offset());
  meta["best_test_accuracy"] = join_doubles({summary_.best_test_accuracy});
  meta["best_epoch"] = std::to_string(summary_.best_epoch);
  meta["last_test_accuracy"] = join_doubles({summary_.final_test_accuracy});
  meta["last_epoch_sums"] = last_epoch_.text();
  meta["skipped_steps"] = std::to_string(summary_.skipped_steps);
  for (const auto& [k, v] : cfg_.flags) meta[kFlagPrefix + k] = v;
  NamedTensors extra = opt_->state_tensors();
  extra.push_back({"trainer.noisy_labels", noise_.noisy});
  if (ido_)
    for (auto& entry : ido_->state_tensors()) extra.push_back(entry);
  save_checkpoint(summary_.checkpoint, *model_, extra, meta);
}

void TrainingRun::finish() {
  summary_.completed = summary_.status == "finished";
  summary_.final_train_loss = last_epoch_.loss();
  summary_.final_memorization = last_epoch_.memorization();
  summary_.wall_time_s = seconds_since(t_start_);
  JsonObject optimizer;
  for (const auto& [name, value] : optim_settings(oc_))
    if (name != "seed") optimizer.add_typed(name, value);
  JsonObject js;
  js.add("status", summary_.status);
  if (!summary_.reason.empty()) js.add("reason", summary_.reason);
  if (summary_.diverged_step >= 0) js.add("diverged_step", summary_.diverged_step);
  if (summary_.status == "interrupted") js.add("resume_command", resume_command(cfg_.out_dir));
  js.add("completed", summary_.completed).add("epochs", total_epochs()).add("epochs_done", summary_.epochs_done)
      .add("steps", summary_.steps).add("final_test_accuracy", summary_.final_test_accuracy)
      .add("best_test_accuracy", summary_.best_test_accuracy).add("best_epoch", summary_.best_epoch)
      .add("final_train_loss", summary_.final_train_loss).add("final_memorization", summary_.final_memorization)
      .add("realised_noise_rate", summary_.realised_noise_rate).add("noisy_samples", noise_.changed)
      .add("skipped_steps", summary_.skipped_steps).add("wall_time_s", summary_.wall_time_s)
      .add("checkpoint", summary_.checkpoint).add("model", cfg_.model).add("width", cfg_.width)
      .add("dataset", cfg_.dataset).add("noise", cfg_.noise).add("seed", static_cast<int64_t>(cfg_.seed))
      .add_raw("optimizer", optimizer.str()).add("device", device_.str())
      .add_raw("flags", train_flags_json(cfg_.flags));
  write_text_atomic(out_path(kSummaryFile), js.str() + "\n");
  JsonObject end_line;
  end_line.add("type", "end").add("status", summary_.status);
  if (!summary_.reason.empty()) end_line.add("reason", summary_.reason);
  end_line.add("step", summary_.diverged_step >= 0 ? summary_.diverged_step : global_step_)
      .add("epochs_done", summary_.epochs_done).add("completed", summary_.completed)
      .add("final_test_accuracy", summary_.final_test_accuracy)
      .add("best_test_accuracy", summary_.best_test_accuracy).add("wall_time_s", summary_.wall_time_s);
  log_->write(end_line);
}

TrainSummary TrainingRun::run() {
  check_config();
  if (!cfg_.resume.empty() && open_resume()) return summary_;  // finished: nothing to do, nothing written
  check_out_dir();
  build();
  summary_.out_dir = cfg_.out_dir;
  summary_.checkpoint = out_path(kCheckpointFile);
  summary_.realised_noise_rate = noise_.realised_rate;
  if (resume_ck_) restore();
  summary_.epochs_done = start_epoch_;
  summary_.steps = global_step_;
  warn_about_idle_settings();
  progress_.line(cat("seed ", cfg_.seed, " (given); derived from it: init ", derive_seed(cfg_.seed, 1), ", shuffle ",
                     derive_seed(cfg_.seed, 2), ", augment ", derive_seed(cfg_.seed, 3), ", optimizer ",
                     derive_seed(cfg_.seed, 4)));
  std::string settings;
  for (const auto& [name, value] : optim_settings(oc_))
    if (name != "seed") settings += (settings.empty() ? "" : " ") + name + "=" + value;
  progress_.line(cat("model: ", cfg_.model, " width ", cfg_.width, ", ", model_->num_parameters(), " parameters on ",
                     device_.str(), ", ", omp_get_max_threads(), " threads; ", settings));
  open_log();
  train();
  finish();
  return summary_;
}

}  // namespace

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // splitmix64 of (seed, stream): nearby seeds give unrelated streams.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string resume_command(const std::string& out_dir) {
  return cat(shell_quoted(program_path()), " train --resume ", shell_quoted(out_dir));
}

TrainSummary run_training(const TrainConfig& config) { return TrainingRun(config).run(); }

}  // namespace basin::apps
