// OptimConfig defaults, validation and the text interface used by the apps.
#include "optim/config.h"

#include <cmath>
#include <functional>
#include <sstream>

#include "core/error.h"

namespace basin::optim {

namespace {

std::string fmt(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// Field names use '_', flags '-': errors name the option as the user types it.
std::string flag_spelling(std::string name) {
  for (char& ch : name)
    if (ch == '_') ch = '-';
  return name;
}

double parse_double(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail(cat("optimizer option --", flag_spelling(name), ": '", text, "' is not a number"));
}

int64_t parse_int(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail(cat("optimizer option --", flag_spelling(name), ": '", text, "' is not an integer"));
}

bool parse_bool(const std::string& name, const std::string& text) {
  if (text == "1" || text == "true" || text == "on" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "off" || text == "no") return false;
  fail(cat("optimizer option --", flag_spelling(name), ": '", text, "' is not a boolean (true/false/1/0)"));
}

struct Entry {
  OptionInfo info;
  std::function<void(OptimConfig&, const std::string&)> set;
  std::function<std::string(const OptimConfig&)> get;
};

#define BASIN_OPT_DOUBLE(field, help)                                                         \
  Entry{{#field, "", help},                                                                   \
        [](OptimConfig& c, const std::string& v) { c.field = parse_double(#field, v); },      \
        [](const OptimConfig& c) { return fmt(c.field); }}
#define BASIN_OPT_INT(field, help)                                                            \
  Entry{{#field, "", help},                                                                   \
        [](OptimConfig& c, const std::string& v) {                                            \
          c.field = static_cast<decltype(c.field)>(parse_int(#field, v));                     \
        },                                                                                    \
        [](const OptimConfig& c) { return std::to_string(c.field); }}
#define BASIN_OPT_BOOL(field, help)                                                           \
  Entry{{#field, "", help},                                                                   \
        [](OptimConfig& c, const std::string& v) { c.field = parse_bool(#field, v); },        \
        [](const OptimConfig& c) { return std::string(c.field ? "true" : "false"); }}
#define BASIN_OPT_STRING(field, help)                                                         \
  Entry{{#field, "", help}, [](OptimConfig& c, const std::string& v) { c.field = v; },        \
        [](const OptimConfig& c) { return c.field; }}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      BASIN_OPT_STRING(method, "optimizer: sgd | sam | asam | ncsam | casam"),
      BASIN_OPT_INT(seed, "seed of the optimizer's random stream (NCSAM sampling)"),
      BASIN_OPT_DOUBLE(lr, "peak learning rate of the base SGD step"),
      BASIN_OPT_DOUBLE(momentum, "SGD momentum mu (m = mu*m + d)"),
      BASIN_OPT_BOOL(nesterov, "Nesterov momentum (w -= lr*(d + mu*m))"),
      BASIN_OPT_DOUBLE(weight_decay, "L2 weight decay added to the gradient at w (base step only)"),
      BASIN_OPT_BOOL(no_decay_bn_bias, "no weight decay on BatchNorm parameters and biases"),
      BASIN_OPT_DOUBLE(label_smoothing, "label smoothing of the training loss (both passes)"),
      BASIN_OPT_STRING(schedule, "learning-rate schedule per iteration: cosine | multistep | constant"),
      BASIN_OPT_INT(epochs, "total epochs (schedule length; t = epoch/epochs)"),
      BASIN_OPT_INT(steps_per_epoch, "iterations per epoch (set by the app from the data)"),
      Entry{{"milestones", "", "multistep: comma-separated epochs where lr *= gamma"},
            [](OptimConfig& c, const std::string& v) {
              c.milestones.clear();
              std::stringstream in(v);
              std::string part;
              while (std::getline(in, part, ','))
                if (!part.empty()) c.milestones.push_back(parse_double("milestones", part));
            },
            [](const OptimConfig& c) {
              std::string out;
              for (size_t i = 0; i < c.milestones.size(); ++i)
                out += (i ? "," : "") + fmt(c.milestones[i]);
              return out;
            }},
      BASIN_OPT_DOUBLE(gamma, "multistep: lr factor at each milestone"),
      BASIN_OPT_DOUBLE(lr_warmup_epochs, "linear learning-rate warm-up length in epochs"),
      BASIN_OPT_INT(lr_warmup_steps, "linear learning-rate warm-up length in iterations"),
      BASIN_OPT_DOUBLE(rho, "SAM-family radius; -1 = method default (0.05; ASAM 0.5)"),
      BASIN_OPT_DOUBLE(asam_eta, "ASAM: T = |w| + eta on conv/linear weights and BN scales"),
      BASIN_OPT_DOUBLE(warmup_epochs, "NCSAM/CA-SAM: epochs of plain SGD first; -1 = epochs/4"),
      BASIN_OPT_DOUBLE(kappa, "NCSAM: s(t) = kappa*min(2(3-2t)t^2, 1)"),
      BASIN_OPT_DOUBLE(r_flip, "NCSAM: fraction of the batch given simulated label noise"),
      BASIN_OPT_INT(sign, "NCSAM: +1 adds s(t)*g* to the ascent, -1 subtracts it"),
      BASIN_OPT_BOOL(project, "NCSAM: rescale e to norm rho when |e| > rho"),
      BASIN_OPT_STRING(ncsam_scale, "NCSAM: compensation term raw (s(t)*g*) | normalized (rho*s(t)*g*/|g*|)"),
      BASIN_OPT_STRING(ncsam_target, "NCSAM: g* toward the chosen rows' temporary labels | their observed labels"),
      BASIN_OPT_DOUBLE(subset_label_smoothing, "NCSAM: label smoothing of the simulated-noise loss"),
      BASIN_OPT_STRING(clean_split, "CA-SAM split: ema-gmm (default) | wrong-bmm | low-loss"),
      BASIN_OPT_DOUBLE(clean_fraction, "CA-SAM low-loss split: fraction per class kept as clean"),
      BASIN_OPT_DOUBLE(ema_beta, "sample tracker: EMA factor of p(label|x) per visit"),
      BASIN_OPT_INT(max_consecutive_skips, "abort after this many non-finite steps in a row"),
  };
  return table;
}

std::string normalise(std::string name) {
  while (!name.empty() && name.front() == '-') name.erase(name.begin());
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

}  // namespace

double resolved_rho(const OptimConfig& config) {
  if (config.rho >= 0.0) return config.rho;
  return config.method == "asam" ? 0.5 : 0.05;
}

double resolved_warmup_epochs(const OptimConfig& config) {
  if (config.warmup_epochs >= 0.0) return config.warmup_epochs;
  return static_cast<double>(config.epochs) / 4.0;
}

ScheduleConfig schedule_config(const OptimConfig& config) {
  ScheduleConfig s;
  s.kind = parse_schedule_kind(config.schedule);
  s.base_lr = config.lr;
  s.steps_per_epoch = config.steps_per_epoch;
  s.total_steps = config.epochs * config.steps_per_epoch;
  s.milestones = config.milestones;
  s.gamma = config.gamma;
  s.warmup_steps = config.lr_warmup_steps;
  s.warmup_epochs = config.lr_warmup_epochs;
  return s;
}

BindOptions bind_options(const OptimConfig& config) {
  BindOptions options;
  options.no_decay_bn_bias = config.no_decay_bn_bias;
  return options;
}

void validate(const OptimConfig& c) {
  const std::string& m = c.method;
  BASIN_CHECK(m == "sgd" || m == "sam" || m == "asam" || m == "ncsam" || m == "casam",
              "optimizer: unknown method '", m, "' (expected sgd, sam, asam, ncsam or casam)");
  BASIN_CHECK(std::isfinite(c.lr) && c.lr >= 0, "optimizer option --lr: must be >= 0, got ", c.lr);
  BASIN_CHECK(c.momentum >= 0 && c.momentum < 1, "optimizer option --momentum: must be in [0, 1), got ",
              c.momentum);
  BASIN_CHECK(!c.nesterov || c.momentum > 0, "optimizer option --nesterov: needs momentum > 0");
  BASIN_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
              "optimizer option --weight-decay: must be >= 0, got ", c.weight_decay);
  BASIN_CHECK(c.label_smoothing >= 0 && c.label_smoothing < 1,
              "optimizer option --label-smoothing: must be in [0, 1), got ", c.label_smoothing);
  BASIN_CHECK(c.subset_label_smoothing >= 0 && c.subset_label_smoothing < 1,
              "optimizer option --subset-label-smoothing: must be in [0, 1), got ", c.subset_label_smoothing);
  BASIN_CHECK(c.epochs > 0, "optimizer option --epochs: must be > 0, got ", c.epochs);
  BASIN_CHECK(std::isfinite(c.rho) && (c.rho >= 0 || c.rho == -1.0),
              "optimizer option --rho: must be >= 0 (or -1 for the default), got ", c.rho);
  BASIN_CHECK(c.asam_eta >= 0, "optimizer option --asam-eta: must be >= 0, got ", c.asam_eta);
  BASIN_CHECK(c.warmup_epochs >= 0 || c.warmup_epochs == -1.0,
              "optimizer option --warmup-epochs: must be >= 0 (or -1), got ", c.warmup_epochs);
  BASIN_CHECK(std::isfinite(c.kappa) && c.kappa >= 0, "optimizer option --kappa: must be >= 0, got ", c.kappa);
  BASIN_CHECK(c.r_flip >= 0 && c.r_flip <= 1, "optimizer option --r-flip: must be in [0, 1], got ", c.r_flip);
  BASIN_CHECK(c.sign == 1 || c.sign == -1, "optimizer option --sign: must be +1 or -1, got ", c.sign);
  BASIN_CHECK(c.ncsam_scale == "raw" || c.ncsam_scale == "normalized",
              "optimizer option --ncsam-scale: must be raw or normalized, got '", c.ncsam_scale, "'");
  BASIN_CHECK(c.ncsam_target == "temporary" || c.ncsam_target == "observed",
              "optimizer option --ncsam-target: must be temporary or observed, got '", c.ncsam_target, "'");
  BASIN_CHECK(c.clean_split == "ema-gmm" || c.clean_split == "wrong-bmm" ||
                  c.clean_split == "low-loss",
              "optimizer option --clean-split: must be ema-gmm, wrong-bmm or low-loss, got '",
              c.clean_split, "'");
  BASIN_CHECK(c.clean_fraction > 0 && c.clean_fraction <= 1,
              "optimizer option --clean-fraction: must be in (0, 1], got ", c.clean_fraction);
  BASIN_CHECK(c.ema_beta >= 0 && c.ema_beta < 1, "optimizer option --ema-beta: must be in [0, 1), got ",
              c.ema_beta);
  BASIN_CHECK(c.max_consecutive_skips >= 1, "optimizer option --max-consecutive-skips: must be >= 1, got ",
              c.max_consecutive_skips);
  parse_schedule_kind(c.schedule);
}

std::vector<OptionInfo> describe_options() {
  const OptimConfig defaults;
  std::vector<OptionInfo> out;
  for (const Entry& e : entries()) {
    OptionInfo info = e.info;
    info.default_value = e.get(defaults);
    out.push_back(info);
  }
  return out;
}

void set_option(OptimConfig& config, const std::string& name, const std::string& value) {
  const std::string key = normalise(name);
  for (const Entry& e : entries())
    if (e.info.name == key) {
      e.set(config, value);
      return;
    }
  fail(cat("optimizer: unknown option '", name, "'"));
}

std::string describe(const OptimConfig& config) {
  std::string out;
  for (const Entry& e : entries()) {
    if (!out.empty()) out += ' ';
    out += e.info.name + "=" + e.get(config);
  }
  return out;
}

}  // namespace basin::optim
