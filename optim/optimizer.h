// The optimizer API: one step(closure, input) that owns SAM's two passes.
// The closure runs the model's forward on the current batch and returns the
// logits; the optimizer computes the loss (a StepLoss: cross-entropy unless
// set_loss chose another, optim/step_loss.h), propagates the upstream gradients,
// builds the perturbation e in the arena, and applies the base SGD update.
// Subclasses (sgd.h, sam.h, ncsam.h, casam.h) differ only in the perturbation.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "optim/config.h"
#include "optim/flat_params.h"
#include "optim/sample_tracker.h"
#include "optim/step_loss.h"
#include "optim/step_scalars.h"
#include "optim/schedule.h"

namespace basin::optim {

enum class Pass { Ascent, Descent };

// Runs the model's forward on the current (already augmented) batch and
// returns the logits [B, C] with the autograd graph kept. It must not call
// backward and must use the same batch for both passes. The optimizer calls
// it once for Pass::Ascent (at w) and, for the SAM family, once for
// Pass::Descent (at w + e, inside nn::FreezeBatchNormStats). With a
// multi-view loss (StepLoss::views() = V > 1) it returns [V * B, C], view-major.
using Closure = std::function<Tensor(Pass)>;

// Gradient accumulation: the batch is split into StepInput::micro_batches
// consecutive parts; closure(pass, k) returns the logits of part k (rows in the
// order of StepInput::labels). Pass 1 accumulates the full-batch gradient g
// (each part weighted by its share of the batch) before e is built; pass 2
// accumulates g2 into its own arena. NCSAM and CA-SAM keep every part's
// pass-1 graph until their second upstream gradient has gone through.
using MicroClosure = std::function<Tensor(Pass, int64_t micro_batch)>;

struct StepInput {
  Tensor labels;        // i64 [B] on the model's device: the labels trained on (observed / noisy)
  Tensor indices;       // i64 [B]: dataset indices (tracker, CA-SAM mask); may be undefined for SGD/SAM/ASAM/NCSAM without a tracker
  int64_t epoch = 0;    // 0-based epoch (warm-up decisions)
  double progress = 0;  // t = epoch / total_epochs in [0, 1], fractional within the epoch (NCSAM s(t))
  int64_t step = 0;     // global iteration, drives the learning-rate schedule
  int64_t micro_batches = 1;  // > 1: gradient accumulation over that many parts (MicroClosure)
  bool observe = true;  // compute cos(g, e), cos(g, g*), cos(g, g2) (three extra arena reductions) and the wrong shares; norms are always computed
  std::string dump_path;  // non-empty: write this step's buffers to a safetensors file (docs/optimizers.md, "Step dumps")
  Tensor dump_batch;      // dumps: the batch as the closure feeds it (augmented, normalised), so the dump replays alone
  std::map<std::string, std::string> dump_metadata;  // dumps: the caller's metadata (model, width, classes, ...)
  // Optional i64 [B] on the model's device: the true labels, read only for the
  // wrong-share observables (never trained on). Last, so brace-initialised
  // inputs keep their meaning.
  Tensor clean_labels;
  // true: the step ends with Optimizer::sync(), one device-to-host read that
  // fills StepResult's numbers and decides the skip. false: nothing is read;
  // the result carries tensors and host-known values only (resolved = false)
  // and the step's scalars wait for the next sync (the trainer's logging
  // steps and epoch ends). The arithmetic is the same either way.
  bool read_back = true;
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct StepResult {
  double loss = kNaN;            // mean step loss (default: CE with label smoothing) at w, pass 1
  double loss_perturbed = kNaN;  // mean step loss at w + e, pass 2 (NaN when there is no second pass)
  Tensor per_sample_loss;        // [B] at w, detached (label smoothing included)
  Tensor logits;                 // pass-1 logits [B, C] of view 0, detached
  std::vector<Tensor> view_logits;  // multi-view losses: every view's pass-1 logits [B, C], detached (view 0 = logits)
  double lr = kNaN;              // base learning rate used
  double grad_norm = kNaN;       // |g|, g = grad at w
  double perturb_norm = kNaN;    // |e| (0 when there is no perturbation)
  double aux_grad_norm = kNaN;   // |g*| (NCSAM) or |g_C| (CA-SAM, clean-subset gradient)
  double descent_grad_norm = kNaN;  // |g2| = |grad at w + e|
  double s_t = kNaN;             // NCSAM s(t)
  double cos_g_e = kNaN;         // cos(g, e)                  (observe)
  double cos_g_aux = kNaN;       // cos(g, g*) / cos(g, g_C)   (observe)
  double cos_g_g2 = kNaN;        // cos(g, g2)                 (observe)
  double comp_ratio = kNaN;      // NCSAM: |compensation term| / rho, before the projection (raw: s(t)|g*|/rho; normalized: ~s(t))
  double batch_wrong_share = kNaN;   // share of the batch with observed != clean label (observe, clean_labels given)
  double chosen_wrong_share = kNaN;  // NCSAM: the same share among the chosen rows (observe, clean_labels given)
  bool perturbed = false;        // a second pass ran (false for SGD and during warm-up)
  bool fallback = false;         // CA-SAM: no likely-clean sample in the batch -> SAM ascent
  int64_t num_clean = -1;        // CA-SAM: likely-clean samples in the batch
  bool skipped = false;          // non-finite loss or gradient: momentum untouched, w untouched (pass 1) or restored by w -= e (pass 2)
  std::string skip_reason;       // why, e.g. "non-finite loss nan at w (pass 1)" (the step number is the caller's)
  int64_t consecutive_skips = 0;
  int64_t total_skips = 0;
  Tensor chosen;                 // NCSAM: positions in the batch of the m chosen samples, i64 [m]
  Tensor temporary_labels;       // NCSAM: the labels g* was taken toward, i64 [m]: y_hat, or the observed labels with ncsam_target = observed
  Tensor clean_mask;             // CA-SAM: 0/1 [B] likely-clean members of the batch
  bool resolved = true;          // false: read_back was off; numbers NaN, skipped unknown until sync()
};

// Per-layer view of the last step: L2 norms of each segment of the arenas
// (NaN where the method has no such buffer yet).
struct SegmentStats {
  std::string name;
  double weight_norm = kNaN;      // |w| now
  double grad_norm = kNaN;        // |g| at w
  double perturb_norm = kNaN;     // |e|
  double descent_grad_norm = kNaN;  // |g2| at w + e
  double momentum_norm = kNaN;    // |m|
};

class Optimizer {
 public:
  Optimizer(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One training step on one batch; see the file comment. Throws basin::Error
  // after config.max_consecutive_skips consecutive skipped steps, naming the step.
  StepResult step(const Closure& closure, const StepInput& input);
  // Same with gradient accumulation over input.micro_batches parts.
  StepResult step(const MicroClosure& closure, const StepInput& input);

  virtual const char* name() const = 0;
  // The loss the step minimises; default CrossEntropyLoss(config.label_smoothing).
  // A multi-view loss changes what the closure returns (see Closure). The
  // SAM-family perturbations that take a second upstream gradient (NCSAM's g*,
  // CA-SAM's g_C) take it from view 0 only (docs/algorithms.md, "IDO").
  void set_loss(std::shared_ptr<const StepLoss> loss);
  const StepLoss& loss() const { return *loss_; }
  const OptimConfig& config() const { return config_; }
  const Schedule& schedule() const { return schedule_; }
  FlatParams& flat() { return flat_; }
  SampleTracker* tracker() const { return tracker_; }
  Generator& generator() { return generator_; }

  // Arena-shaped buffers of the last step, for probes and per-layer statistics
  // (flat().segment_norms(buffer)). Undefined until the method has used them.
  const Tensor& momentum() const { return momentum_; }
  const Tensor& grad_at_w() const { return g_; }             // g of the last step
  const Tensor& perturbation() const { return e_; }          // e of the last step
  const Tensor& grad_at_perturbed() const { return g2_; }    // g2 of the last step
  const Tensor& aux_grad() const { return aux_; }            // g* (NCSAM) / g_C (CA-SAM)

  // Per-segment norms of w, g, e, g2 and m (host reductions: call on logged steps only).
  std::vector<SegmentStats> segment_statistics() const;

  // Resolves every step not yet resolved (those taken with read_back = false),
  // in order, with one device-to-host read: their numbers and skip
  // decisions, the skip counters, and the sample tracker's updates of the
  // steps that were not skipped. Returns their results, oldest first. Throws
  // basin::Error ("training diverged") when it meets the
  // max_consecutive_skips-th skipped step in a row, naming the step; the
  // results resolved up to and including that step are then left for
  // take_resolved_earlier().
  std::vector<StepResult> sync();
  // The results a read-back step's sync (or a sync that threw) resolved
  // before the step's own, oldest first; empty when every step read back.
  // Hands them over (the optimizer keeps no copy).
  std::vector<StepResult> take_resolved_earlier() { return std::move(earlier_); }
  size_t pending_steps() const { return pending_.size(); }

  int64_t steps_taken() const { return steps_taken_; }  // applied (not skipped) steps (as of the last sync)
  int64_t total_skips() const { return total_skips_; }

  // Per-step values on the device, for captured steps (optim/captured_step.h):
  // with this on, the step's kernels read the learning rate, NCSAM's s(t) and
  // the Philox offset of NCSAM's draw from device tensors instead of taking
  // them as launch arguments, and stage_step_values(input) must write them
  // before each step (a host-to-device copy; nothing is read back). Off by
  // default; the arithmetic is the same either way (tests/optim_device_step_test.cpp).
  void use_device_step_values(bool on);
  bool device_step_values() const { return device_values_on_; }
  void stage_step_values(const StepInput& input);

  // Called at the start of each epoch's first step (and by hand if wanted);
  // CA-SAM refits its clean split here. Default: nothing.
  virtual void begin_epoch(int64_t epoch);

  // Checkpoint: ordered (name, tensor) list: "optim.momentum" (arena),
  // "optim.counters" i64 [4] (steps_taken, total_skips, consecutive_skips,
  // last epoch seen), "optim.generator" i64 [2] (seed, offset), then the
  // method's own ("casam.clean_mask") and the tracker's ("tracker.*").
  virtual NamedTensors state_tensors() const;
  // Restores everything state_tensors wrote; throws naming a missing or
  // mis-shaped tensor. A resumed run on the CPU continues bit-identically.
  virtual void load_state(const NamedTensors& tensors);

 protected:
  // What the subclass decides per step.
  virtual bool second_pass(const StepInput& input) const = 0;  // SAM family after warm-up
  virtual bool needs_pass1_graph(const StepInput&) const { return false; }  // a second upstream gradient follows
  // Pass-1 outputs handed to perturb(): every part's logits with its graph
  // (kept when needs_pass1_graph said so) and their detached concatenation.
  struct Pass1 {
    std::vector<Tensor> parts;     // [V * B_k, C] each (V = loss().views()), graphs attached
    std::vector<int64_t> offsets;  // first row of each part in the batch
    Tensor logits;                 // [B, C] of view 0, detached
  };
  // Build e in e_ (given g in g_ and |g|^2 in scalars_.g_dot), apply w += e,
  // with the named kernels of core/backend.h and without reading a value back.
  // A method with a second gradient puts its squared norm in scalars_.aux_dot
  // and folds it into the skip flag (scalars_.check_finite): the kernels then
  // set e = 0 and leave w, and the step is skipped. Fill the method's host-known result fields.
  virtual void perturb(const StepInput& input, const Pass1& pass1, StepResult& result) = 0;
  // The method's strength s(t) for this step (NCSAM); 0 for the others.
  virtual double step_strength(const StepInput&) const { return 0.0; }
  // Extra dump entries of the method (e.g. g*, chosen indices).
  virtual void add_dump_entries(NamedTensors&, const StepResult&) const {}

  // Back-propagate sum_i weights_i * CE(logits_i, labels_i; smoothing) of view 0's
  // rows through the retained pass-1 graphs into `target` (an arena-shaped buffer, zeroed first).
  // labels i64 [B], weights [B] in the logits' dtype. Releases the graphs.
  void backprop_weighted_loss(const Pass1& pass1, const Tensor& labels, const Tensor& weights,
                              double smoothing, Tensor& target);
  Tensor& ensure(Tensor& buffer);  // allocate an arena-shaped buffer on first use

  OptimConfig config_;
  FlatParams& flat_;
  SampleTracker* tracker_;
  Schedule schedule_;
  Generator generator_;
  Tensor momentum_, g_, e_, g2_, aux_;
  std::shared_ptr<const StepLoss> loss_;
  StepScalars scalars_;  // the current step's device scalars and skip flag
  // The device copies of the per-step values (use_device_step_values): lr and
  // s(t) f64 [1], the Philox offset i64 [1]; passed to kernels only while on.
  struct StepValues {
    Tensor lr, s_t, philox_offset;
  };
  StepValues step_values_;
  bool device_values_on_ = false;
  const Tensor& lr_value() const { return device_values_on_ ? step_values_.lr : kNoValue; }
  const Tensor& s_t_value() const { return device_values_on_ ? step_values_.s_t : kNoValue; }
  const Tensor& philox_offset_value() const { return device_values_on_ ? step_values_.philox_offset : kNoValue; }

 private:
  friend class CapturedStep;  // replays a captured step and books it like step() does
  static const Tensor kNoValue;
  // A step whose scalars are still on the device.
  struct PendingStep {
    int64_t step = 0, epoch = 0;
    StepScalars scalars;
    StepResult result;      // host-known fields and tensors
    Tensor indices, labels;  // the tracker's update, applied at sync when the step was not skipped
  };
  std::vector<PendingStep> pending_;
  std::vector<StepResult> earlier_;
  // An epoch's first step: flushes pending steps and calls begin_epoch.
  void enter_epoch(const StepInput& input);
  // Queues a finished step; with read_back, syncs and returns its resolved result.
  StepResult push_pending(PendingStep&& pending, bool read_back);
  void write_dump(const StepInput& input, const StepResult& result, const Tensor& w_before,
                  const Tensor& momentum_before) const;
  int64_t steps_taken_ = 0;
  int64_t total_skips_ = 0;
  int64_t consecutive_skips_ = 0;
  int64_t last_epoch_ = -1;
};

// cos(a, b) = <a, b> / (|a| |b|); NaN when either norm is 0.
double cosine(const Tensor& a, const Tensor& b, double norm_a = -1, double norm_b = -1);
// Share of positions where the observed label differs from the clean one (i64 tensors, same length).
double wrong_share(const Tensor& observed, const Tensor& clean);

}  // namespace basin::optim
