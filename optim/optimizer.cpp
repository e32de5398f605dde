// The step skeleton shared by every method: pass 1, skip checks, the
// method's perturbation, pass 2 with frozen BatchNorm statistics, base update,
// diagnostics; plus checkpoint state and step dumps.
#include "optim/optimizer.h"

#include <cmath>
#include <cstdio>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/batch_norm.h"
#include "optim/sam.h"
#include "optim/step_scalars.h"

namespace basin::optim {

namespace {

// A part's logits [V * B_k, C] from the closure, checked (defined, floating,
// on the parameters' device, requiring grad, whole views, within the batch);
// returns the labels and indices of its rows [first, first + B_k). Both passes
// use it: pass 2 must return the rows pass 1 did.
LossRows checked_part_rows(const Tensor& logits, const StepInput& input, int64_t first, int64_t views,
                           Device device, const std::string& where) {
  const int64_t batch = input.labels.numel();
  BASIN_CHECK(logits.defined() && logits.dim() == 2 && logits.size(0) % views == 0 &&
                  first + logits.size(0) / views <= batch && is_floating(logits.dtype()),
              "optimizer: the closure returned ",
              logits.defined() ? logits.str() : std::string("an undefined tensor"), " in ", where,
              "; expected floating logits [V * B_k, C] with V = ", views,
              " view(s), the parts' rows must add up to the batch (", batch, " labels)");
  BASIN_CHECK(logits.device() == device, "optimizer: logits ", logits.str(),
              " are not on the parameters' device ", device.str());
  BASIN_CHECK(logits.requires_grad(), "optimizer: the logits of ", where,
              " do not require grad (was the forward run under NoGrad, or the model not bound?)");
  const int64_t rows = logits.size(0) / views;
  LossRows out;
  out.labels = input.labels.narrow(0, first, rows).contiguous();
  if (input.indices.defined()) out.indices = input.indices.narrow(0, first, rows).contiguous();
  return out;
}

std::string segment_table(const FlatParams& flat) {
  std::string out;
  for (const Segment& s : flat.segments())
    out += cat(s.name, ":", s.offset, ":", s.numel, ":", shape_str(s.shape), ":",
               s.decay ? "decay" : "no_decay", ":", s.asam_weight ? "weight" : "other", ";");
  return out;
}

}  // namespace

double cosine(const Tensor& a, const Tensor& b, double norm_a, double norm_b) {
  if (!a.defined() || !b.defined()) return kNaN;
  if (norm_a < 0) norm_a = std::sqrt(dot_value(a, a));
  if (norm_b < 0) norm_b = std::sqrt(dot_value(b, b));
  if (!(norm_a > 0) || !(norm_b > 0)) return kNaN;
  return dot_value(a, b) / (norm_a * norm_b);
}

double wrong_share(const Tensor& observed, const Tensor& clean) {
  BASIN_CHECK(observed.defined() && clean.defined() && observed.numel() == clean.numel() &&
                  observed.numel() > 0,
              "wrong_share: observed and clean labels must be non-empty and of one length");
  NoGrad no_grad;
  // Class indices are exact in f32; the comparison kernels take floating operands.
  const Tensor same = compare(BinaryOp::Eq, observed.to(DType::F32), clean.to(DType::F32));
  return 1.0 - mean(same).item();
}

Optimizer::Optimizer(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker)
    : config_(config), flat_(flat), tracker_(tracker), generator_(config.seed) {
  validate(config_);
  flat_.check_bound();
  BASIN_CHECK(config_.steps_per_epoch > 0 || config_.schedule == "constant",
              "optimizer: steps_per_epoch must be set (> 0) for the '", config_.schedule,
              "' schedule (the app sets it from the dataset size and batch size)");
  schedule_ = Schedule(schedule_config(config_));
  loss_ = std::make_shared<CrossEntropyLoss>(config_.label_smoothing);
  g_ = flat_.grads();
  if (config_.momentum != 0.0) momentum_ = flat_.new_state_buffer();
  if (tracker_)
    BASIN_CHECK(tracker_->device() == flat_.device(), "optimizer: sample tracker is on ",
                tracker_->device().str(), " but the parameters are on ", flat_.device().str());
}

void Optimizer::set_loss(std::shared_ptr<const StepLoss> loss) {
  BASIN_CHECK(loss && loss->views() >= 1, "optimizer.set_loss: a loss with at least one view is required");
  loss_ = std::move(loss);
}

Tensor& Optimizer::ensure(Tensor& buffer) {
  if (!buffer.defined()) buffer = flat_.new_state_buffer();
  return buffer;
}

void Optimizer::begin_epoch(int64_t) {}

void Optimizer::backprop_weighted_loss(const Pass1& pass1, const Tensor& labels,
                                       const Tensor& weights, double smoothing, Tensor& target) {
  ensure(target);
  flat_.route_grads(target);
  {
    NoGrad no_grad;
    target.zero_();
  }
  for (size_t k = 0; k < pass1.parts.size(); ++k) {
    const Tensor& part = pass1.parts[k];
    const int64_t views = loss_->views();
    const int64_t rows = part.size(0) / views, first = pass1.offsets[k];
    // Upstream gradient from a detached copy of the part's logits, then through the model.
    Tensor z = part.detach();
    z.requires_grad_(true);
    const Tensor view0 = z.narrow(0, 0, rows);  // view 0 (all of z when V = 1)
    const Tensor part_labels = labels.narrow(0, first, rows).contiguous();
    const Tensor part_weights = weights.narrow(0, first, rows).contiguous();
    Tensor weighted = sum(mul(cross_entropy_per_sample(view0, part_labels, smoothing), part_weights));
    weighted.backward();
    part.backward(z.grad(), /*retain_graph=*/false);
  }
  flat_.route_grads(g_);
}

StepResult Optimizer::step(const Closure& closure, const StepInput& input) {
  BASIN_CHECK(closure, "optimizer.step: empty closure");
  BASIN_CHECK(input.micro_batches == 1, "optimizer.step: micro_batches = ", input.micro_batches,
              " needs a MicroClosure (closure(pass, k) for part k)");
  return step(MicroClosure([&closure](Pass pass, int64_t) { return closure(pass); }), input);
}

StepResult Optimizer::step(const MicroClosure& closure, const StepInput& input) {
  BASIN_CHECK(closure, "optimizer.step: empty closure");
  flat_.check_bound();
  const Device device = flat_.device();
  BASIN_CHECK(input.labels.defined() && input.labels.dtype() == DType::I64 &&
                  input.labels.dim() == 1 && input.labels.device() == device,
              "optimizer.step: labels must be i64 [B] on ", device.str(), ", got ",
              input.labels.defined() ? input.labels.str() : std::string("undefined"));
  const int64_t batch = input.labels.numel();
  if (input.indices.defined())
    BASIN_CHECK(input.indices.dtype() == DType::I64 && input.indices.dim() == 1 &&
                    input.indices.numel() == batch && input.indices.device() == device,
                "optimizer.step: indices must be i64 [", batch, "] on ", device.str(), ", got ",
                input.indices.str());
  BASIN_CHECK(!tracker_ || input.indices.defined(),
              "optimizer.step: a sample tracker is attached, so StepInput.indices is required");
  if (input.clean_labels.defined())
    BASIN_CHECK(input.clean_labels.dtype() == DType::I64 && input.clean_labels.dim() == 1 &&
                    input.clean_labels.numel() == batch && input.clean_labels.device() == device,
                "optimizer.step: clean_labels must be i64 [", batch, "] on ", device.str(), ", got ",
                input.clean_labels.str());
  BASIN_CHECK(input.micro_batches >= 1 && input.micro_batches <= batch,
              "optimizer.step: micro_batches must be in [1, ", batch, "], got ",
              input.micro_batches);
  enter_epoch(input);

  StepResult r;
  r.lr = schedule_.lr(input.step);
  Tensor w = flat_.params();
  Tensor w_before, momentum_before;
  const bool dumping = !input.dump_path.empty();
  if (dumping) {
    w_before = w.clone();
    if (momentum_.defined()) momentum_before = momentum_.clone();
  }
  const bool read_back = input.read_back || dumping;
  const bool two_pass = second_pass(input);
  const StepLoss& step_loss = *loss_;
  const int64_t views = step_loss.views();
  const double inv_batch = 1.0 / static_cast<double>(batch);
  const int64_t parts = input.micro_batches;
  scalars_ = StepScalars();
  scalars_.poison = zeros({}, w.dtype(), device);

  // ---- pass 1 at w: g accumulates into the default grad arena ----
  // Nothing here reads a value back: a non-finite loss or gradient only
  // poisons the step's flag, and the kernels below then leave w and m alone.
  flat_.route_grads(g_);
  {
    NoGrad no_grad;
    g_.zero_();
  }
  const bool keep_graph = two_pass && needs_pass1_graph(input);
  Pass1 pass1;
  std::vector<Tensor> per_sample_parts;
  std::vector<std::vector<Tensor>> detached_parts(views);  // [view][part]
  int64_t rows_seen = 0;
  for (int64_t k = 0; k < parts; ++k) {
    Tensor logits = closure(Pass::Ascent, k);
    const LossRows loss_rows =
        checked_part_rows(logits, input, rows_seen, views, device, cat("pass 1 (Pass::Ascent), part ", k));
    const int64_t rows = loss_rows.labels.numel();
    // Loss and upstream gradient from a detached copy of the logits: mean over the whole batch.
    Tensor z = logits.detach();
    z.requires_grad_(true);
    Tensor per_sample = step_loss.per_sample(z, loss_rows);
    Tensor loss = mul(sum(per_sample), inv_batch);
    loss.backward();
    scalars_.loss_parts.push_back(loss.detach());
    scalars_.check_finite(loss);
    per_sample_parts.push_back(per_sample.detach());
    const Tensor detached = logits.detach();
    for (int64_t v = 0; v < views; ++v) detached_parts[v].push_back(detached.narrow(0, v * rows, rows));
    logits.backward(z.grad(), keep_graph);
    if (keep_graph) {
      pass1.parts.push_back(logits);
      pass1.offsets.push_back(rows_seen);
    }
    rows_seen += rows;
  }
  BASIN_CHECK(rows_seen == batch, "optimizer: the ", parts, " parts returned ", rows_seen,
              " rows in total per view (", views,
              " view(s): the closure returns [V * B_k, C]), the batch has ", batch, " labels");
  r.per_sample_loss = parts == 1 ? per_sample_parts[0] : concat(per_sample_parts, 0);
  for (int64_t v = 0; v < views; ++v)
    r.view_logits.push_back(parts == 1 ? detached_parts[v][0] : concat(detached_parts[v], 0));
  r.logits = r.view_logits[0];
  pass1.logits = r.logits;
  scalars_.g_dot = dot(g_, g_);
  scalars_.check_finite(scalars_.g_dot);

  SgdStepParams base;
  base.lr = r.lr;
  base.momentum = config_.momentum;
  base.weight_decay = config_.weight_decay;
  base.nesterov = config_.nesterov;
  base.lr_value = lr_value();
  const Tensor decay = flat_.has_no_decay_segments() ? flat_.decay_mask() : Tensor();
  Backend& backend = backend_of(w);

  if (!two_pass) {
    base.skip = scalars_.poison;
    backend.sgd_step(w, g_, momentum_, decay, Tensor(), base);
    r.perturb_norm = 0.0;
  } else {
    // ---- perturbation: e in e_, w += e (e = 0 and w untouched when the flag is set) ----
    ensure(e_);
    perturb(input, pass1, r);
    pass1.parts.clear();  // releases retained pass-1 graphs the method did not use
    r.perturbed = true;
    // ---- pass 2 at w + e: g2 into its own arena, BN running stats frozen ----
    ensure(g2_);
    flat_.route_grads(g2_);
    {
      NoGrad no_grad;
      g2_.zero_();
    }
    try {
      int64_t offset = 0;
      for (int64_t k = 0; k < parts; ++k) {
        Tensor logits2;
        {
          nn::FreezeBatchNormStats freeze;
          logits2 = closure(Pass::Descent, k);
        }
        const LossRows loss_rows =
            checked_part_rows(logits2, input, offset, views, device, cat("pass 2 (Pass::Descent), part ", k));
        Tensor loss2 = mul(sum(step_loss.per_sample(logits2, loss_rows)), inv_batch);
        scalars_.loss2_parts.push_back(loss2.detach());
        scalars_.check_finite(loss2);
        offset += loss_rows.labels.numel();
        loss2.backward();
      }
    } catch (...) {
      NoGrad no_grad;
      w.add_(e_, -1.0);  // back to w before the error propagates
      flat_.route_grads(g_);
      throw;
    }
    flat_.route_grads(g_);
    scalars_.g2_dot = dot(g2_, g2_);
    scalars_.check_finite(scalars_.g2_dot);
    // ---- restore w (w -= e) and base SGD step with g2, one pass over the arena ----
    base.skip = scalars_.poison;
    backend.sgd_step(w, g2_, momentum_, decay, e_, base);
    if (read_back || input.observe) scalars_.e_dot = dot(e_, e_);
  }

  if (input.observe && r.perturbed) {
    scalars_.g_e = dot(g_, e_);
    scalars_.g_g2 = dot(g_, g2_);
    if (scalars_.aux_dot.defined()) scalars_.g_aux = dot(g_, aux_);
  }
  if (input.observe && input.clean_labels.defined())
    r.batch_wrong_share = wrong_share(input.labels, input.clean_labels);
  PendingStep pending;
  pending.step = input.step;
  pending.epoch = input.epoch;
  pending.scalars = std::move(scalars_);
  scalars_ = StepScalars();
  if (tracker_) {
    pending.indices = input.indices;
    pending.labels = input.labels;
  }
  pending.result = std::move(r);
  StepResult out = push_pending(std::move(pending), read_back);
  if (dumping) write_dump(input, out, w_before, momentum_before);
  return out;
}

const Tensor Optimizer::kNoValue;

void Optimizer::enter_epoch(const StepInput& input) {
  if (input.epoch == last_epoch_) return;
  sync();  // an epoch's first step: the split refit (CA-SAM) reads the tracker, so flush it
  begin_epoch(input.epoch);
  last_epoch_ = input.epoch;
}

StepResult Optimizer::push_pending(PendingStep&& pending, bool read_back) {
  pending_.push_back(std::move(pending));
  if (!read_back) {
    StepResult unresolved = pending_.back().result;
    unresolved.resolved = false;
    return unresolved;
  }
  earlier_ = sync();
  StepResult out = std::move(earlier_.back());
  earlier_.pop_back();
  return out;
}

void Optimizer::use_device_step_values(bool on) {
  if (on && !step_values_.lr.defined()) {
    const Device device = flat_.params().device();
    step_values_.lr = zeros({1}, DType::F64, device);
    step_values_.s_t = zeros({1}, DType::F64, device);
    step_values_.philox_offset = zeros({1}, DType::I64, device);
  }
  device_values_on_ = on;
}

void Optimizer::stage_step_values(const StepInput& input) {
  BASIN_CHECK(device_values_on_, "optimizer.stage_step_values: call use_device_step_values(true) first");
  NoGrad no_grad;
  // Host-to-device copies into the same tensors every step: a captured step keeps their addresses.
  step_values_.lr.copy_(from_vector<double>({schedule_.lr(input.step)}, {1}));
  step_values_.s_t.copy_(from_vector<double>({step_strength(input)}, {1}));
  step_values_.philox_offset.copy_(from_vector<int64_t>({static_cast<int64_t>(generator_.offset())}, {1}));
}

std::vector<StepResult> Optimizer::sync() {
  std::vector<StepResult> resolved;
  earlier_.clear();
  if (pending_.empty()) return resolved;
  // Every pending step's scalars in one transfer.
  std::vector<Tensor> packs;
  std::vector<int64_t> sizes;
  {
    NoGrad no_grad;
    for (const PendingStep& p : pending_) {
      packs.push_back(p.scalars.packed());
      sizes.push_back(packs.back().numel());
    }
  }
  const std::vector<double> values = (packs.size() == 1 ? packs[0] : concat(packs, 0)).to_vector<double>();
  std::vector<PendingStep> steps = std::move(pending_);
  pending_.clear();
  size_t at = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    PendingStep& p = steps[i];
    StepResult& r = p.result;
    const std::vector<double> mine(values.begin() + static_cast<std::ptrdiff_t>(at),
                                   values.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(sizes[i])));
    at += static_cast<size_t>(sizes[i]);
    if (!p.scalars.resolve(mine, r)) {
      // Wrong events: one per wrong view (IDO's stage 2 counts both views), applied
      // in step order, only for steps that were not skipped.
      if (tracker_)
        for (const Tensor& logits : r.view_logits) tracker_->update(p.indices, logits, p.labels);
      ++steps_taken_;
      consecutive_skips_ = 0;
      r.consecutive_skips = 0;
      r.total_skips = total_skips_;
      resolved.push_back(std::move(r));
      continue;
    }
    ++consecutive_skips_;
    ++total_skips_;
    r.skipped = true;
    r.consecutive_skips = consecutive_skips_;
    r.total_skips = total_skips_;
    resolved.push_back(r);
    if (consecutive_skips_ >= config_.max_consecutive_skips) {
      earlier_ = std::move(resolved);
      fail(cat("optimizer ", name(), ": step ", p.step, " (epoch ", p.epoch, ") skipped: ",
               r.skip_reason, "; that is ", consecutive_skips_,
               " consecutive skipped steps (max_consecutive_skips = ", config_.max_consecutive_skips,
               "): training diverged; lower the learning rate or rho"));
    }
  }
  return resolved;
}

void Optimizer::write_dump(const StepInput& input, const StepResult& r, const Tensor& w_before,
                           const Tensor& momentum_before) const {
  NamedTensors tensors;
  auto add = [&](const std::string& name, const Tensor& t) {
    if (t.defined()) tensors.emplace_back(name, t);
  };
  add("inputs", input.dump_batch);
  add("w_before", w_before);
  add("momentum_before", momentum_before);
  add("indices", input.indices);
  add("labels", input.labels);
  add("logits", r.logits);
  add("per_sample_loss", r.per_sample_loss);
  add("g", g_);
  if (r.perturbed) {
    add("e", e_);
    add("g2", g2_);
  }
  add_dump_entries(tensors, r);
  loss_->add_dump_entries(tensors, input.indices);
  add("w_after", flat_.params());
  add("momentum_after", momentum_);
  // Every number a replay needs, in a decimal form that reads back to the same double.
  auto exact = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  std::map<std::string, std::string> meta = input.dump_metadata;
  const std::map<std::string, std::string> own = {
      {"method", name()},
      {"step_loss", loss_->name()},
      {"step", std::to_string(input.step)},
      {"epoch", std::to_string(input.epoch)},
      {"micro_batches", std::to_string(input.micro_batches)},
      {"progress", exact(input.progress)},
      {"lr", exact(r.lr)},
      {"rho", exact(resolved_rho(config_))},
      {"momentum", exact(config_.momentum)},
      {"nesterov", config_.nesterov ? "true" : "false"},
      {"weight_decay", exact(config_.weight_decay)},
      {"label_smoothing", exact(config_.label_smoothing)},
      {"norm_epsilon", exact(kNormEpsilon)},
      {"asam_eta", exact(config_.asam_eta)},
      {"kappa", exact(config_.kappa)},
      {"r_flip", exact(config_.r_flip)},
      {"sign", std::to_string(config_.sign)},
      {"project", config_.project ? "true" : "false"},
      {"subset_label_smoothing", exact(config_.subset_label_smoothing)},
      {"loss", exact(r.loss)},
      {"loss_perturbed", exact(r.loss_perturbed)},
      {"grad_norm", exact(r.grad_norm)},
      {"perturb_norm", exact(r.perturb_norm)},
      {"aux_grad_norm", exact(r.aux_grad_norm)},
      {"descent_grad_norm", exact(r.descent_grad_norm)},
      {"s_t", exact(r.s_t)},
      {"skipped", r.skipped ? "true" : "false"},
      {"perturbed", r.perturbed ? "true" : "false"},
      {"config", describe(config_)},
      {"segments", segment_table(flat_)},
  };
  for (const auto& [key, value] : own) meta[key] = value;
  safetensors::save(input.dump_path, tensors, meta);
}

std::vector<SegmentStats> Optimizer::segment_statistics() const {
  std::vector<SegmentStats> out(flat_.segments().size());
  for (size_t i = 0; i < out.size(); ++i) out[i].name = flat_.segments()[i].name;
  auto fill = [&](const Tensor& buffer, double SegmentStats::*field) {
    if (!buffer.defined()) return;
    const std::vector<double> norms = flat_.segment_norms(buffer);
    for (size_t i = 0; i < out.size(); ++i) out[i].*field = norms[i];
  };
  fill(flat_.params(), &SegmentStats::weight_norm);
  fill(g_, &SegmentStats::grad_norm);
  fill(e_, &SegmentStats::perturb_norm);
  fill(g2_, &SegmentStats::descent_grad_norm);
  fill(momentum_, &SegmentStats::momentum_norm);
  return out;
}

NamedTensors Optimizer::state_tensors() const {
  BASIN_CHECK(pending_.empty(), "optimizer.state_tensors: ", pending_.size(),
              " step(s) taken with read_back = false are not synced yet; call sync() first");
  NamedTensors out;
  if (momentum_.defined()) out.emplace_back("optim.momentum", momentum_.clone());
  out.emplace_back("optim.counters",
                   from_vector<int64_t>({steps_taken_, total_skips_, consecutive_skips_, last_epoch_},
                                        {4}));
  out.emplace_back("optim.generator",
                   from_vector<int64_t>({static_cast<int64_t>(generator_.seed()),
                                         static_cast<int64_t>(generator_.offset())},
                                        {2}));
  if (tracker_)
    for (auto& entry : tracker_->state_tensors()) out.push_back(entry);
  return out;
}

namespace {
const Tensor* find_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& entry : tensors)
    if (entry.first == name) return &entry.second;
  return nullptr;
}
}  // namespace

void Optimizer::load_state(const NamedTensors& tensors) {
  NoGrad no_grad;
  pending_.clear();
  if (momentum_.defined()) {
    const Tensor* m = find_tensor(tensors, "optim.momentum");
    BASIN_CHECK(m, "optimizer.load_state: 'optim.momentum' is missing (momentum = ",
                config_.momentum, ")");
    BASIN_CHECK(m->numel() == momentum_.numel(), "optimizer.load_state: 'optim.momentum' has ",
                m->numel(), " elements, the parameter arena has ", momentum_.numel());
    momentum_.copy_(m->to(momentum_.device()).reshape({momentum_.numel()}));
  }
  const Tensor* counters = find_tensor(tensors, "optim.counters");
  BASIN_CHECK(counters && counters->numel() == 4 && counters->dtype() == DType::I64,
              "optimizer.load_state: 'optim.counters' must be i64 [4]");
  const std::vector<int64_t> c = counters->to(Device::cpu()).to_vector<int64_t>();
  steps_taken_ = c[0];
  total_skips_ = c[1];
  consecutive_skips_ = c[2];
  last_epoch_ = c[3];
  const Tensor* gen = find_tensor(tensors, "optim.generator");
  BASIN_CHECK(gen && gen->numel() == 2 && gen->dtype() == DType::I64,
              "optimizer.load_state: 'optim.generator' must be i64 [2]");
  const std::vector<int64_t> g = gen->to(Device::cpu()).to_vector<int64_t>();
  generator_.set_state(static_cast<uint64_t>(g[0]), static_cast<uint64_t>(g[1]));
  if (tracker_) tracker_->load_state(tensors);
}

}  // namespace basin::optim
