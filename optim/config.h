// OptimConfig: every optimizer hyper-parameter with its default, in one flat
// struct, plus a table of (name, default, one-line help) that the train app
// prints for --help and parses flags with (set_option).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optim/flat_params.h"
#include "optim/schedule.h"

namespace basin::optim {

struct OptimConfig {
  // --- method ---
  std::string method = "sgd";  // sgd | sam | asam | ncsam | casam
  uint64_t seed = 0;           // the optimizer's Philox stream (NCSAM sampling)

  // --- base SGD (PyTorch semantics: d = g + wd*w; m = mu*m + d; w -= lr*m) ---
  double lr = 0.05;             // peak learning rate
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool no_decay_bn_bias = false;  // no weight decay on BatchNorm parameters and biases (bind option)
  double label_smoothing = 0.0;   // of the training loss (both passes)

  // --- learning-rate schedule (lr(step), per iteration) ---
  std::string schedule = "cosine";  // cosine | multistep | constant
  int64_t epochs = 200;             // total epochs: schedule length and warm-up fractions
  int64_t steps_per_epoch = 0;      // iterations per epoch (required for cosine and epoch units)
  std::vector<double> milestones;   // multistep: epochs where lr *= gamma
  double gamma = 0.1;               // multistep factor
  double lr_warmup_epochs = 0.0;    // linear lr warm-up, in epochs ...
  int64_t lr_warmup_steps = 0;      // ... or iterations (the longer wins)

  // --- SAM family ---
  double rho = -1.0;            // neighbourhood radius; -1: method default (SAM/NCSAM/CA-SAM 0.05, ASAM 0.5)
  double asam_eta = 0.01;       // ASAM: T = |w| + eta on weights
  double warmup_epochs = -1.0;  // NCSAM/CA-SAM: plain SGD for these epochs; -1: a quarter of `epochs`

  // --- NCSAM ---
  double kappa = 0.1;          // s(t) = kappa * min(2(3-2t)t^2, 1)
  double r_flip = 0.2;         // fraction of the batch given simulated noise (m = floor(r_flip*B))
  int sign = 1;                // +1: e = rho*g/|g| + s(t)*g*;  -1: minus
  bool project = true;         // rescale e onto the rho-ball when |e| > rho
  // The compensation term: raw s(t)*g* (the reading's default) or normalized
  // rho*s(t)*g*/|g*| (the radius's scale); docs/algorithms.md "NCSAM".
  std::string ncsam_scale = "raw";  // raw | normalized
  // g* toward the chosen rows' temporary labels y_hat or their observed labels y~.
  std::string ncsam_target = "temporary";  // temporary | observed
  double subset_label_smoothing = 0.0;  // label smoothing of the simulated-noise subset loss

  // --- CA-SAM (basin's reading, see docs/optimizers.md) ---
  std::string clean_split = "ema-gmm";  // ema-gmm | wrong-bmm | low-loss
  double clean_fraction = 0.5;  // low-loss split: fraction of each class kept as likely clean
  double ema_beta = 0.9;        // sample tracker EMA of p(y~|x)

  // --- robustness ---
  int64_t max_consecutive_skips = 5;  // abort after this many non-finite steps in a row
};

// rho after resolving -1 to the method's default.
double resolved_rho(const OptimConfig& config);
// warmup_epochs after resolving -1 to epochs / 4.
double resolved_warmup_epochs(const OptimConfig& config);
// The schedule the config describes (validated).
ScheduleConfig schedule_config(const OptimConfig& config);
// The bind options the config asks for (optim::bind(model, device, bind_options(config))).
BindOptions bind_options(const OptimConfig& config);
// Throws basin::Error naming the first invalid field.
void validate(const OptimConfig& config);

struct OptionInfo {
  std::string name;           // flag name without dashes, e.g. "r_flip"
  std::string default_value;  // as text
  std::string help;           // one line
};
// Every field of OptimConfig, in declaration order.
std::vector<OptionInfo> describe_options();
// Set a field from text ("rho", "0.1"; '-' and '_' are interchangeable in the
// name; bools accept 1/0/true/false; milestones a comma list). Throws naming
// the option when the name is unknown or the value does not parse.
void set_option(OptimConfig& config, const std::string& name, const std::string& value);
// One line "method=sam lr=0.05 ..." for logs.
std::string describe(const OptimConfig& config);

}  // namespace basin::optim
