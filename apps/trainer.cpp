// The training loop; see trainer.h. The order of work inside an epoch is fixed
// (shuffle from (seed, epoch), augmentation from one checkpointed Generator,
// optimizer state in the arena), which is what makes a resumed CPU run
// bit-identical to an uninterrupted one.
#include "apps/trainer.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/checkpoint.h"
#include "apps/dataset_spec.h"
#include "apps/evaluation.h"
#include "apps/json_writer.h"
#include "apps/progress.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "data/augment.h"
#include "data/batch_iterator.h"
#include "data/noise.h"
#include "nn/models.h"
#include "nn/state_dict.h"
#include "optim/factory.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

namespace basin::apps {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr const char* kCheckpointFormat = "basin-train-checkpoint-1";
constexpr const char* kTrainerPrefix = "trainer.";

// The settings a checkpoint must agree with to be resumed by this config.
std::map<std::string, std::string> identity(const TrainConfig& c) {
  char width[32];
  std::snprintf(width, sizeof width, "%.17g", c.width);
  return {{"train.model", c.model},
          {"train.width", width},
          {"train.dataset", c.dataset},
          {"train.train_limit", std::to_string(c.train_limit)},
          {"train.normalization", c.normalization},
          {"train.augment", c.augment ? "true" : "false"},
          {"train.noise", c.noise},
          {"train.noise_seed", std::to_string(c.noise_seed)},
          {"train.optimizer", optim::describe(c.optim)},
          {"train.epochs", std::to_string(c.epochs)},
          {"train.batch_size", std::to_string(c.batch_size)},
          {"train.seed", std::to_string(c.seed)}};
}

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
};

struct BatchCounts {
  int64_t correct_noisy = 0, correct_clean = 0, mislabelled = 0, memorized = 0;
};

BatchCounts count_batch(const Tensor& logits, const data::Batch& batch) {
  const std::vector<int64_t> pred = argmax(logits, 1).to_vector<int64_t>();
  const std::vector<int64_t> noisy = batch.noisy_labels.to_vector<int64_t>();
  const std::vector<int64_t> clean = batch.clean_labels.to_vector<int64_t>();
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

std::string flags_json(const std::map<std::string, std::string>& flags) {
  JsonObject o;
  for (const auto& [k, v] : flags) o.add(k, v);
  return o.str();
}

}  // namespace

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // splitmix64 of (seed, stream): nearby seeds give unrelated streams.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

TrainSummary run_training(const TrainConfig& cfg) {
  const auto t_start = Clock::now();
  BASIN_CHECK(cfg.epochs > 0, "epochs must be > 0, got ", cfg.epochs);
  BASIN_CHECK(cfg.batch_size > 0, "batch size must be > 0, got ", cfg.batch_size);
  BASIN_CHECK(cfg.width > 0, "width must be > 0, got ", cfg.width);
  BASIN_CHECK(cfg.eval_every > 0, "eval-every must be > 0, got ", cfg.eval_every);
  BASIN_CHECK(cfg.log_every >= 0, "log-every must be >= 0, got ", cfg.log_every);
  BASIN_CHECK(cfg.stop_after >= 0, "stop-after must be >= 0, got ", cfg.stop_after);
  BASIN_CHECK(cfg.threads >= 0, "threads must be >= 0, got ", cfg.threads);
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  const Device device = Device::parse(cfg.device);
  BASIN_CHECK(has_backend(device.type), "device '", cfg.device,
              "' is not available in this build (built without CUDA, or no GPU)");
#if defined(BASIN_HAS_CUDA)
  // Deterministic mode is a process-wide switch of the CUDA backend; the CPU
  // backend is deterministic whatever it says.
  if (device.is_cuda()) cuda::set_deterministic(cfg.deterministic);
#endif
  Progress progress(cfg.quiet);

  // --- data and label noise ---
  data::Dataset train = load_dataset(cfg.dataset, "train", cfg.train_limit, cfg.normalization);
  data::Dataset test = load_dataset(cfg.dataset, "test", cfg.test_limit, cfg.normalization);
  BASIN_CHECK(train.num_classes == test.num_classes && train.channels() == test.channels(),
              "dataset '", cfg.dataset, "': train and test splits disagree (", train.num_classes, " vs ",
              test.num_classes, " classes, ", train.channels(), " vs ", test.channels(), " channels)");
  test.mean = train.mean;  // the test split is normalised with the training constants
  test.std = train.std;
  const data::NoisyLabels noise = data::apply_noise(train, cfg.noise, cfg.noise_seed);
  progress.line(cat("data: ", train.name, " train ", train.size(), " test ", test.size(), " images ",
                    train.channels(), "x", train.height(), "x", train.width(), ", ", train.num_classes,
                    " classes"));
  if (!train.provenance.empty()) progress.line(train.provenance);
  if (noise.changed > 0 || cfg.noise != "none") progress.line(data::format_noise_report(noise, train.class_names));

  // --- model, arena, optimizer ---
  auto model = nn::make_model(cfg.model, train.num_classes, train.channels(), cfg.width,
                              derive_seed(cfg.seed, 1));
  model->train();
  optim::OptimConfig oc = cfg.optim;
  oc.epochs = cfg.epochs;
  oc.seed = derive_seed(cfg.seed, 4);
  data::BatchIteratorOptions it_opt;
  it_opt.batch_size = cfg.batch_size;
  it_opt.shuffle = true;
  it_opt.drop_last = train.size() >= cfg.batch_size;  // BatchNorm dislikes a runt last batch
  it_opt.seed = derive_seed(cfg.seed, 2);
  it_opt.device = device;
  data::BatchIterator iterator(train, noise.noisy, it_opt);
  const int64_t steps_per_epoch = iterator.steps_per_epoch();
  BASIN_CHECK(steps_per_epoch > 0, "no training steps: ", train.size(), " samples, batch size ", cfg.batch_size);
  oc.steps_per_epoch = steps_per_epoch;
  optim::validate(oc);
  optim::FlatParams flat = optim::bind(*model, device, optim::bind_options(oc));
  optim::SampleTracker tracker(train.size(), device, oc.ema_beta);
  std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(oc, flat, &tracker);
  Generator augment_gen(derive_seed(cfg.seed, 3));
  const AugmentSpec train_spec = cfg.augment ? data::train_augment_spec(train) : data::eval_augment_spec(train);
  const AugmentSpec eval_spec = data::eval_augment_spec(train);

  std::filesystem::create_directories(cfg.out_dir);
  const std::string ck_path = (std::filesystem::path(cfg.out_dir) / kCheckpointFile).string();
  const std::map<std::string, std::string> ident = identity(cfg);

  TrainSummary summary;
  summary.out_dir = cfg.out_dir;
  summary.checkpoint = ck_path;
  summary.realised_noise_rate = noise.realised_rate;
  int64_t start_epoch = 0, global_step = 0;

  // --- resume ---
  if (!cfg.resume.empty()) {
    const Checkpoint ck = load_checkpoint(checkpoint_path(cfg.resume));
    BASIN_CHECK(ck.has_meta("format") && ck.meta("format") == kCheckpointFormat, "checkpoint '", ck.path,
                "' is not a basin training checkpoint (metadata 'format' should be ", kCheckpointFormat, ")");
    for (const auto& [key, value] : ident)
      BASIN_CHECK(ck.meta(key) == value, "cannot resume from '", ck.path, "': ", key.substr(6), " was '",
                  ck.meta(key), "' there, but is '", value, "' now");
    try {
      nn::load_state_dict(*model, ck.model_state());
      flat.check_bound();
      NamedTensors optim_state;
      for (const auto& [n, t] : ck.other_tensors())
        if (n.rfind(kTrainerPrefix, 0) != 0) optim_state.push_back({n, t});
      opt->load_state(optim_state);
    } catch (const Error& e) {
      fail(cat("cannot resume from checkpoint '", ck.path, "': ", e.what()));
    }
    const std::vector<int64_t> saved_noisy = ck.tensor("trainer.noisy_labels").to_vector<int64_t>();
    BASIN_CHECK(saved_noisy == noise.noisy.to_vector<int64_t>(), "cannot resume from '", ck.path,
                "': its noisy training labels differ from the ones this run derives (different data files?)");
    augment_gen.set_state(static_cast<uint64_t>(std::stoull(ck.meta("augment_seed"))),
                          static_cast<uint64_t>(std::stoull(ck.meta("augment_offset"))));
    start_epoch = ck.meta_i64("epoch");
    global_step = ck.meta_i64("step");
    summary.best_test_accuracy = ck.meta_f64("best_test_accuracy");
    summary.best_epoch = ck.meta_i64("best_epoch");
    summary.final_test_accuracy = ck.meta_f64("last_test_accuracy");
    summary.skipped_steps = ck.meta_i64("skipped_steps");
    BASIN_CHECK(start_epoch >= 0 && start_epoch <= cfg.epochs && global_step == start_epoch * steps_per_epoch,
                "checkpoint '", ck.path, "': position epoch ", start_epoch, " step ", global_step,
                " does not fit ", cfg.epochs, " epochs of ", steps_per_epoch, " steps");
    progress.line(cat("resumed from ", ck.path, " at epoch ", start_epoch, ", step ", global_step));
  }
  summary.epochs_done = start_epoch;
  summary.steps = global_step;

  JsonLog log((std::filesystem::path(cfg.out_dir) / "run.jsonl").string(), !cfg.resume.empty());
  if (cfg.resume.empty()) {
    JsonObject start;
    start.add("type", "start").add("model", cfg.model).add("width", cfg.width)
        .add("parameters", model->num_parameters()).add("dataset", cfg.dataset)
        .add("train_size", train.size()).add("test_size", test.size()).add("device", device.str())
        .add("threads", static_cast<int64_t>(omp_get_max_threads())).add("optimizer", optim::describe(oc))
        .add("noise", cfg.noise).add("noise_seed", static_cast<int64_t>(cfg.noise_seed))
        .add("realised_noise_rate", noise.realised_rate).add("noisy_samples", noise.changed)
        .add("transition", noise.transition).add("normalization_mean", train.mean)
        .add("normalization_std", train.std).add_raw("flags", flags_json(cfg.flags));
    log.write(start);
  }
  progress.line(cat("model: ", cfg.model, " width ", cfg.width, ", ", model->num_parameters(),
                    " parameters on ", device.str(), ", ", omp_get_max_threads(), " threads; ",
                    optim::describe(oc)));

  const int64_t end_epoch =
      cfg.stop_after > 0 ? std::min(cfg.epochs, start_epoch + cfg.stop_after) : cfg.epochs;
  const int64_t steps_this_run = (end_epoch - start_epoch) * steps_per_epoch;
  int64_t steps_done_this_run = 0;
  const auto t_loop = Clock::now();
  EpochStats last;

  for (int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    iterator.seek(epoch, 0);
    EpochStats st;
    const auto t_epoch = Clock::now();
    data::Batch batch;
    while (iterator.next(batch)) {
      const auto t_step = Clock::now();
      const int64_t step_in_epoch = batch.step;
      // One augmented batch serves both SAM passes (docs/algorithms.md "The training step").
      const Tensor x = cfg.augment ? data::augment(batch.images, train_spec, augment_gen)
                                   : data::normalize(batch.images, train_spec);
      const optim::Closure closure = [&](optim::Pass) { return model->forward(x); };
      optim::StepInput in;
      in.labels = batch.noisy_labels;
      in.indices = batch.indices;
      in.epoch = epoch;
      in.progress = (static_cast<double>(epoch) + static_cast<double>(step_in_epoch) / steps_per_epoch) /
                    static_cast<double>(cfg.epochs);
      in.step = global_step;
      const bool log_this = cfg.log_every > 0 && global_step % cfg.log_every == 0;
      in.observe = log_this;
      if (cfg.dump_step >= 0 && global_step == cfg.dump_step)
        in.dump_path = (std::filesystem::path(cfg.out_dir) / cat("step_", global_step, ".safetensors")).string();
      const optim::StepResult r = opt->step(closure, in);
      const int64_t b = batch.size();
      st.steps += 1;
      BatchCounts counts;
      if (r.skipped) {
        st.skipped += 1;
        summary.skipped_steps += 1;
        progress.line(cat("step ", global_step, " skipped: ", r.skip_reason, " (", r.consecutive_skips,
                          " in a row)"));
        JsonObject skip;
        skip.add("type", "skip").add("step", global_step).add("epoch", epoch + 1).add("reason", r.skip_reason)
            .add("consecutive", r.consecutive_skips);
        log.write(skip);
      } else {
        counts = count_batch(r.logits, batch);
        st.samples += b;
        st.loss_sum += r.loss * static_cast<double>(b);
        st.correct_noisy += counts.correct_noisy;
        st.correct_clean += counts.correct_clean;
        st.mislabelled += counts.mislabelled;
        st.memorized += counts.memorized;
      }
      const double step_s = seconds_since(t_step);
      global_step += 1;
      steps_done_this_run += 1;
      if (log_this && !r.skipped) {
        JsonObject line;
        line.add("type", "step").add("step", global_step - 1).add("epoch", epoch + 1).add("loss", r.loss)
            .add("acc_noisy", static_cast<double>(counts.correct_noisy) / b)
            .add("acc_clean", static_cast<double>(counts.correct_clean) / b).add("lr", r.lr)
            .add("grad_norm", r.grad_norm).add("perturb_norm", r.perturb_norm)
            .add("aux_grad_norm", r.aux_grad_norm).add("descent_grad_norm", r.descent_grad_norm)
            .add("s_t", r.s_t).add("cos_g_e", r.cos_g_e).add("cos_g_aux", r.cos_g_aux)
            .add("cos_g_g2", r.cos_g_g2).add("loss_perturbed", r.loss_perturbed).add("perturbed", r.perturbed);
        if (r.num_clean >= 0) line.add("num_clean", r.num_clean).add("fallback", r.fallback);
        line.add("images_per_s", b / step_s).add("elapsed_s", seconds_since(t_start));
        log.write(line);
      }
      const double run_s = seconds_since(t_loop);
      Progress::State ps;
      ps.epoch = epoch + 1;
      ps.epochs = cfg.epochs;
      ps.step = step_in_epoch + 1;
      ps.steps = steps_per_epoch;
      ps.loss = st.loss();
      ps.accuracy = st.acc_noisy();
      ps.images_per_s = st.samples / std::max(seconds_since(t_epoch), 1e-9);
      ps.eta_s = run_s / steps_done_this_run * static_cast<double>(steps_this_run - steps_done_this_run);
      progress.update(ps);
    }
    const double epoch_s = seconds_since(t_epoch);

    // --- end of epoch: test accuracy, split quality, log line, checkpoint ---
    double test_acc = -1, test_loss = -1;
    if ((epoch + 1) % cfg.eval_every == 0 || epoch + 1 == cfg.epochs) {
      const EvalResult ev = evaluate(*model, test, eval_spec, device, cfg.eval_batch_size);
      test_acc = ev.accuracy;
      test_loss = ev.loss;
      summary.final_test_accuracy = test_acc;
      if (test_acc > summary.best_test_accuracy) {
        summary.best_test_accuracy = test_acc;
        summary.best_epoch = epoch + 1;
      }
    }
    JsonObject line;
    line.add("type", "epoch").add("epoch", epoch + 1).add("step", global_step).add("train_loss", st.loss())
        .add("train_acc_noisy", st.acc_noisy()).add("train_acc_clean", st.acc_clean())
        .add("memorization", st.memorization()).add("mislabelled_seen", st.mislabelled)
        .add("skipped_steps", st.skipped);
    if (auto* casam = dynamic_cast<optim::CaSam*>(opt.get())) {
      // How well the likely-clean split matches the truth we know (noisy == clean).
      const std::vector<float> mask = casam->clean_mask().to(DType::F32).to_vector<float>();
      const std::vector<int64_t> noisy = noise.noisy.to_vector<int64_t>();
      const std::vector<int64_t> clean = train.labels.to_vector<int64_t>();
      std::vector<uint8_t> predicted(mask.size()), truth(mask.size());
      for (size_t i = 0; i < mask.size(); ++i) {
        predicted[i] = mask[i] > 0.5f;
        truth[i] = noisy[i] == clean[i];
      }
      const optim::SplitQuality q = optim::split_quality(predicted, truth, tracker.wrong_event_values());
      line.add("clean_precision", q.precision).add("clean_recall", q.recall).add("wrong_event_auc", q.auc)
          .add("predicted_clean", q.predicted_clean);
    }
    if (test_acc >= 0) line.add("test_acc", test_acc).add("test_loss", test_loss);
    line.add("lr", opt->schedule().lr(std::max<int64_t>(global_step - 1, 0)))
        .add("images_per_s", st.samples / std::max(epoch_s, 1e-9)).add("epoch_s", epoch_s)
        .add("elapsed_s", seconds_since(t_start));
    log.write(line);
    progress.line(cat("epoch ", epoch + 1, "/", cfg.epochs, ": train loss ", fixed(st.loss(), 4), ", acc ",
                      fixed(100 * st.acc_noisy(), 2), "% vs noisy labels, ", fixed(100 * st.acc_clean(), 2),
                      "% vs clean; memorization ", fixed(100 * st.memorization(), 2), "%",
                      test_acc >= 0 ? cat("; test acc ", fixed(100 * test_acc, 2), "%") : std::string(), " (",
                      format_duration(epoch_s), ")"));

    std::map<std::string, std::string> meta = ident;
    meta["format"] = kCheckpointFormat;
    meta["model"] = cfg.model;
    meta["width"] = ident.at("train.width");
    meta["num_classes"] = std::to_string(train.num_classes);
    meta["in_channels"] = std::to_string(train.channels());
    meta["image_height"] = std::to_string(train.height());
    meta["image_width"] = std::to_string(train.width());
    meta["dataset_name"] = train.name;
    meta["normalization.mean"] = join_doubles(train.mean);
    meta["normalization.std"] = join_doubles(train.std);
    meta["epoch"] = std::to_string(epoch + 1);
    meta["step"] = std::to_string(global_step);
    meta["augment_seed"] = std::to_string(augment_gen.seed());
    meta["augment_offset"] = std::to_string(augment_gen.offset());
    meta["best_test_accuracy"] = join_doubles({summary.best_test_accuracy});
    meta["best_epoch"] = std::to_string(summary.best_epoch);
    meta["last_test_accuracy"] = join_doubles({summary.final_test_accuracy});
    meta["skipped_steps"] = std::to_string(summary.skipped_steps);
    for (const auto& [k, v] : cfg.flags) meta[kFlagPrefix + k] = v;
    NamedTensors extra = opt->state_tensors();
    extra.push_back({"trainer.noisy_labels", noise.noisy});
    save_checkpoint(ck_path, *model, extra, meta);

    summary.epochs_done = epoch + 1;
    summary.steps = global_step;
    last = st;
  }

  summary.completed = summary.epochs_done == cfg.epochs;
  summary.final_train_loss = last.loss();
  summary.final_memorization = last.memorization();
  summary.wall_time_s = seconds_since(t_start);
  JsonObject js;
  js.add("completed", summary.completed).add("epochs_done", summary.epochs_done).add("steps", summary.steps)
      .add("final_test_accuracy", summary.final_test_accuracy)
      .add("best_test_accuracy", summary.best_test_accuracy).add("best_epoch", summary.best_epoch)
      .add("final_train_loss", summary.final_train_loss).add("final_memorization", summary.final_memorization)
      .add("realised_noise_rate", summary.realised_noise_rate).add("noisy_samples", noise.changed)
      .add("skipped_steps", summary.skipped_steps).add("wall_time_s", summary.wall_time_s)
      .add("checkpoint", ck_path).add("model", cfg.model).add("width", cfg.width).add("dataset", cfg.dataset)
      .add("noise", cfg.noise).add("optimizer", optim::describe(oc)).add("device", device.str())
      .add_raw("flags", flags_json(cfg.flags));
  write_text_atomic((std::filesystem::path(cfg.out_dir) / "summary.json").string(), js.str() + "\n");
  JsonObject end_line;
  end_line.add("type", "end").add("epochs_done", summary.epochs_done).add("completed", summary.completed)
      .add("final_test_accuracy", summary.final_test_accuracy)
      .add("best_test_accuracy", summary.best_test_accuracy).add("wall_time_s", summary.wall_time_s);
  log.write(end_line);
  return summary;
}

}  // namespace basin::apps
