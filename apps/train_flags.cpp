// Flags of `basin train`; see train_flags.h.
#include "apps/train_flags.h"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>

#include "apps/checkpoint.h"
#include "apps/dataset_spec.h"
#include "core/device.h"
#include "core/error.h"
#include "data/noise.h"
#include "nn/models.h"
#include "optim/config.h"

namespace basin::apps {
namespace {

// OptimConfig fields the trainer sets itself or exposes under its own flag.
const std::set<std::string>& trainer_owned_options() {
  static const std::set<std::string> owned = {"method",     "seed",       "epochs", "steps_per_epoch",
                                              "schedule",   "milestones", "gamma"};
  return owned;
}

std::string flag_name(const std::string& option) {
  std::string out = option;
  for (char& c : out)
    if (c == '_') c = '-';
  return out;
}

std::string model_list() {
  std::string out;
  for (const std::string& n : nn::model_names()) out += (out.empty() ? "" : " | ") + n;
  return out;
}

// Flags a resumed run may take with a new value: they change how the run is
// executed, logged or how long it is (--epochs), not the arithmetic of a step.
const std::set<std::string>& may_change_on_resume() {
  static const std::set<std::string> names = {
      "out",     "resume",      "stop-after", "quiet",     "overwrite",       "epochs",     "device",
      "threads", "deterministic", "cuda-graph", "log-every", "dump-step", "eval-every", "eval-batch-size", "test-limit"};
  return names;
}

bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char *end_a = nullptr, *end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a), y = std::strtod(b.c_str(), &end_b);
  return !a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0' && x == y;
}

bool is_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0';
}

std::string default_out_dir() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

void declare_train_flags(Flags& f) {
  f.section("model");
  f.add("model", "resnet20", "architecture: " + model_list());
  f.add("width", "1", "channel-width multiplier (e.g. 0.5 halves every layer)");
  f.add("init", "", "initial weights: a basin checkpoint or a plain PyTorch state_dict in safetensors (fresh optimizer)");
  f.section("data");
  f.add("dataset", "fmnist", std::string("training data: ") + dataset_spec_forms());
  f.add("train-limit", "0", "use only the first N training images (0: all)");
  f.add("test-limit", "0", "use only the first N test images (0: all)");
  f.add("normalization", "auto", "auto: the dataset's published mean/std when known | computed: from the pixels");
  declare_dataset_flags(f);
  f.add_bool("augment", "random crop (and flip, CIFAR/folders) on the device; --no-augment: normalise only", true);
  f.add("noise", "none", std::string("label noise of the training set: ") + data::noise_spec_forms());
  f.add("noise-seed", "0", "seed of the label-noise draw");
  f.section("training");
  f.add("optimizer", "sgd", "sgd | sam | asam | ncsam | casam");
  f.add("epochs", "10", "epochs to train (also the schedule length)");
  f.add("batch-size", "128", "training batch size");
  f.add("schedule", "cosine", "learning rate per iteration: cosine | constant | multistep:M1,M2[:gamma] (epochs)");
  f.add("seed", "0", "seed of model init, shuffling, augmentation and the optimizer stream");
  f.section("IDO: wrong-event two-stage training (docs/algorithms.md \"IDO\")");
  f.add("method", "plain", "plain | ido: stage 1 = --epochs of the usual recipe, base model by the label-wave "
        "rule, then stage 2 from it under IDO's two-view loss with a fresh --optimizer");
  f.add("stage2-epochs", "10", "IDO: epochs of stage 2 (a fresh --schedule over them)");
  f.add("strong-magnitude", "5",
        "IDO: RandAugment magnitude of the strong view, 0..30 (torchvision's scale; the authors' 5 and 10 are "
        "on a 0..10 scale with a random level per op: docs/algorithms.md)");
  f.add("ido-mixture", "per-class", "IDO: per-class (one Beta mixture per observed class) | single (one for all)");
  f.section("optimizer hyper-parameters (optim::OptimConfig)");
  for (const optim::OptionInfo& o : optim::describe_options()) {
    if (trainer_owned_options().count(o.name)) continue;
    if (o.default_value == "true" || o.default_value == "false")
      f.add_bool(flag_name(o.name), o.help, o.default_value == "true");
    else
      f.add(flag_name(o.name), o.default_value, o.help);
  }
  f.section("execution");
  f.add("device", "cpu", "cpu | cuda | cuda:N");
  f.add("threads", "0", "OpenMP threads on the CPU (0: OMP_NUM_THREADS, else all cores)");
  f.add_bool("deterministic", "bit-for-bit repeatable runs: on a GPU, deterministic cuDNN algorithms and "
             "atomic-free reductions; the CPU is always deterministic (accepted, no effect)");
  f.add_bool("cuda-graph", "CUDA: capture each plain step (SGD, SAM, ASAM, NCSAM; not CA-SAM or IDO's stage 2) "
             "as a CUDA graph after one warm-up step and replay it; logging, dump and epoch-end steps run "
             "uncaptured. Off by default until verified on a GPU; refused with --device cpu");
  f.section("output");
  f.add("out", "", "run directory (run.jsonl, checkpoint, summary.json); default runs/<date-time>");
  f.add("resume", "", "continue the run in this directory (or from this checkpoint file)");
  f.add("log-every", "50", "a JSON step line in run.jsonl every k steps (0: none)");
  f.add("dump-step", "-1", "dump this global step (batch, weights, momentum, scalars, g, e, g2) to step_N.safetensors (-1: none)");
  f.add("eval-every", "1", "test accuracy every k epochs (and always after the last)");
  f.add("eval-batch-size", "256", "batch size of the test evaluation");
  f.add("stop-after", "0", "stop (with a checkpoint) after this many epochs of this invocation (0: run to the end)");
  f.add_bool("overwrite", "replace the run already in --out (without it, a folder holding a run is refused)");
  f.add_bool("quiet", "no progress or report lines on stderr");
}

void parse_schedule_flag(const std::string& text, optim::OptimConfig& c) {
  c.milestones.clear();
  if (text == "cosine" || text == "constant") {
    c.schedule = text;
    return;
  }
  BASIN_CHECK(text.rfind("multistep:", 0) == 0, "flag --schedule: expected cosine | constant | "
              "multistep:M1,M2[:gamma], got '", text, "'");
  std::string rest = text.substr(10);
  const size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    const std::string gamma = rest.substr(colon + 1);
    char* end = nullptr;
    c.gamma = std::strtod(gamma.c_str(), &end);
    BASIN_CHECK(!gamma.empty() && *end == '\0' && c.gamma > 0, "flag --schedule: gamma must be a number > 0, got '",
                gamma, "'");
    rest = rest.substr(0, colon);
  }
  BASIN_CHECK(!rest.empty(), "flag --schedule: multistep needs at least one milestone epoch, got '", text, "'");
  c.schedule = "multistep";
  for (const double m : split_doubles(rest, "flag --schedule milestones")) c.milestones.push_back(m);
}

TrainConfig train_config_from_flags(const Flags& f) {
  TrainConfig c;
  c.model = f.str("model");
  bool known_model = false;
  for (const std::string& n : nn::model_names()) known_model |= n == c.model;
  BASIN_CHECK(known_model, "flag --model: unknown model '", c.model, "' (", model_list(), ")");
  c.width = f.f64("width");
  BASIN_CHECK(c.width > 0, "flag --width: must be > 0, got ", c.width);
  c.dataset = f.str("dataset");
  c.train_limit = f.i64("train-limit");
  c.test_limit = f.i64("test-limit");
  BASIN_CHECK(c.train_limit >= 0, "flag --train-limit: must be >= 0, got ", c.train_limit);
  BASIN_CHECK(c.test_limit >= 0, "flag --test-limit: must be >= 0, got ", c.test_limit);
  c.normalization = dataset_options_from_flags(f).str();  // --normalization, --mean, --std, --resize, --channels
  c.augment = f.on("augment");
  c.noise = f.str("noise");
  try {
    data::parse_noise_spec(c.noise);
  } catch (const Error& e) {
    fail(cat("flag --noise: ", e.what()));
  }
  BASIN_CHECK(f.i64("noise-seed") >= 0, "flag --noise-seed: must be >= 0, got ", f.i64("noise-seed"));
  c.noise_seed = static_cast<uint64_t>(f.i64("noise-seed"));
  c.optim.method = f.str("optimizer");
  c.epochs = f.i64("epochs");
  BASIN_CHECK(c.epochs > 0, "flag --epochs: must be > 0, got ", c.epochs);
  const std::string method = f.str("method");
  BASIN_CHECK(method == "plain" || method == "ido", "flag --method: expected plain | ido, got '", method, "'");
  c.ido.enabled = method == "ido";
  c.ido.stage2_epochs = f.i64("stage2-epochs");
  BASIN_CHECK(c.ido.stage2_epochs > 0, "flag --stage2-epochs: must be > 0, got ", c.ido.stage2_epochs);
  c.ido.magnitude = static_cast<int>(f.i64("strong-magnitude"));
  BASIN_CHECK(c.ido.magnitude >= 0 && c.ido.magnitude <= 30, "flag --strong-magnitude: must be in [0, 30], got ",
              c.ido.magnitude);
  const std::string mixture = f.str("ido-mixture");
  BASIN_CHECK(mixture == "per-class" || mixture == "single", "flag --ido-mixture: expected per-class | single, got '",
              mixture, "'");
  c.ido.per_class = mixture == "per-class";
  c.batch_size = f.i64("batch-size");
  BASIN_CHECK(c.batch_size > 0, "flag --batch-size: must be > 0, got ", c.batch_size);
  parse_schedule_flag(f.str("schedule"), c.optim);
  BASIN_CHECK(f.i64("seed") >= 0, "flag --seed: must be >= 0, got ", f.i64("seed"));
  c.seed = static_cast<uint64_t>(f.i64("seed"));
  for (const optim::OptionInfo& o : optim::describe_options()) {
    if (trainer_owned_options().count(o.name)) continue;
    const std::string name = flag_name(o.name);
    // Re-read numbers through Flags so a bad value names the flag the user typed.
    if (is_number(o.default_value)) f.f64(name);
    optim::set_option(c.optim, o.name, f.str(name));
  }
  try {
    optim::OptimConfig probe = c.optim;
    probe.epochs = c.epochs;
    probe.steps_per_epoch = 1;
    optim::validate(probe);
  } catch (const Error& e) {
    fail(cat("optimizer flags: ", e.what()));
  }
  c.device = f.str("device");
  Device::parse(c.device);
  c.threads = static_cast<int>(f.i64("threads"));
  c.deterministic = f.on("deterministic");
  c.cuda_graph = f.on("cuda-graph");
  BASIN_CHECK(!c.cuda_graph || Device::parse(c.device).is_cuda(),
              "flag --cuda-graph: captures GPU work as a CUDA graph, so it needs --device cuda; this run is on ",
              c.device, " (drop --cuda-graph)");
  BASIN_CHECK(c.threads >= 0, "flag --threads: must be >= 0, got ", c.threads);
  c.resume = f.str("resume");
  c.out_dir = f.str("out");
  if (c.out_dir.empty()) {
    if (!c.resume.empty())
      c.out_dir = std::filesystem::is_directory(c.resume) ? c.resume
                                                          : std::filesystem::path(c.resume).parent_path().string();
    if (c.out_dir.empty()) c.out_dir = default_out_dir();
  }
  c.log_every = f.i64("log-every");
  BASIN_CHECK(c.log_every >= 0, "flag --log-every: must be >= 0, got ", c.log_every);
  c.dump_step = f.i64("dump-step");
  c.init = f.str("init");
  c.eval_every = f.i64("eval-every");
  BASIN_CHECK(c.eval_every > 0, "flag --eval-every: must be > 0, got ", c.eval_every);
  c.eval_batch_size = f.i64("eval-batch-size");
  BASIN_CHECK(c.eval_batch_size > 0, "flag --eval-batch-size: must be > 0, got ", c.eval_batch_size);
  c.stop_after = f.i64("stop-after");
  BASIN_CHECK(c.stop_after >= 0, "flag --stop-after: must be >= 0, got ", c.stop_after);
  c.quiet = f.on("quiet");
  c.overwrite = f.on("overwrite");
  for (const auto& [name, value] : f.values()) c.flags[name] = value;
  c.flags["out"] = c.out_dir;
  return c;
}

void restore_saved_flags(Flags& f) {
  static const std::set<std::string> per_invocation = {"out", "resume", "stop-after", "quiet", "overwrite"};
  const Checkpoint ck = load_checkpoint(checkpoint_path(f.str("resume")));
  const std::map<std::string, std::string> saved = ck.flags();
  BASIN_CHECK(!saved.empty(), "checkpoint '", ck.path, "' holds no saved flags (metadata 'flag.*')");
  for (const auto& [name, value] : saved) {
    if (!f.has(name) || per_invocation.count(name)) continue;
    if (!f.given(name)) {
      f.set_value(name, value);
      continue;
    }
    BASIN_CHECK(may_change_on_resume().count(name) || same_value(f.str(name), value), "flag --", name,
                " cannot change on resume: the run in '", f.str("resume"), "' has ", name, "=", value,
                ", this command gives ", name, "=", f.str(name),
                " (on resume only --epochs and the execution and output flags may change)");
  }
}

std::string train_flags_json(const std::map<std::string, std::string>& values) {
  Flags f("train", "");
  declare_train_flags(f);
  for (const auto& [name, value] : values)
    if (f.has(name)) f.set_value(name, value);
  return f.json();
}

}  // namespace basin::apps
