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

namespace basin::optim {

namespace {

void check_logits(const Tensor& logits, const Tensor& labels, int64_t views, Device device,
                  const char* pass) {
  BASIN_CHECK(logits.defined(), "optimizer: the closure returned an undefined tensor in ", pass);
  BASIN_CHECK(logits.dim() == 2 && logits.size(0) == views * labels.numel() &&
                  is_floating(logits.dtype()),
              "optimizer: the closure must return floating logits [V * B, C] with V = ", views,
              " view(s) of B = ", labels.numel(), " (the labels), got ", logits.str(), " in ", pass);
  BASIN_CHECK(logits.device() == device, "optimizer: logits ", logits.str(),
              " are not on the parameters' device ", device.str());
  BASIN_CHECK(logits.requires_grad(), "optimizer: the logits of ", pass,
              " do not require grad (was the forward run under NoGrad, or the model not bound?)");
}

// The labels and indices of rows [first, first + rows) of the batch.
LossRows part_rows(const StepInput& input, int64_t first, int64_t rows) {
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
    const Tensor view0 = views == 1 ? z : z.narrow(0, 0, rows);
    const Tensor part_labels = labels.narrow(0, first, rows).contiguous();
    const Tensor part_weights = weights.narrow(0, first, rows).contiguous();
    Tensor weighted = sum(mul(cross_entropy_per_sample(view0, part_labels, smoothing), part_weights));
    weighted.backward();
    part.backward(z.grad(), /*retain_graph=*/false);
  }
  flat_.route_grads(g_);
}

StepResult Optimizer::skip(StepResult r, const StepInput& input, const std::string& reason) {
  flat_.route_grads(g_);
  ++consecutive_skips_;
  ++total_skips_;
  r.skipped = true;
  r.skip_reason = reason;
  r.consecutive_skips = consecutive_skips_;
  r.total_skips = total_skips_;
  if (consecutive_skips_ >= config_.max_consecutive_skips)
    fail(cat("optimizer ", name(), ": step ", input.step, " (epoch ", input.epoch, ") skipped: ",
             reason, "; that is ", consecutive_skips_,
             " consecutive skipped steps (max_consecutive_skips = ", config_.max_consecutive_skips,
             "): training diverged; lower the learning rate or rho"));
  return r;
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
  if (input.epoch != last_epoch_) {
    begin_epoch(input.epoch);
    last_epoch_ = input.epoch;
  }

  StepResult r;
  r.lr = schedule_.lr(input.step);
  r.consecutive_skips = consecutive_skips_;
  r.total_skips = total_skips_;
  Tensor w = flat_.params();
  Tensor w_before, momentum_before;
  if (!input.dump_path.empty()) {
    w_before = w.clone();
    if (momentum_.defined()) momentum_before = momentum_.clone();
  }
  const bool two_pass = second_pass(input);
  const StepLoss& step_loss = *loss_;
  const int64_t views = step_loss.views();
  const double inv_batch = 1.0 / static_cast<double>(batch);
  const int64_t parts = input.micro_batches;
  auto dump_and_skip = [&](const std::string& reason) {
    if (!input.dump_path.empty()) write_dump(input, r, w_before, momentum_before);
    return skip(r, input, reason);
  };

  // ---- pass 1 at w: g accumulates into the default grad arena ----
  flat_.route_grads(g_);
  {
    NoGrad no_grad;
    g_.zero_();
  }
  const bool keep_graph = two_pass && needs_pass1_graph(input);
  Pass1 pass1;
  std::vector<Tensor> per_sample_parts;
  std::vector<std::vector<Tensor>> detached_parts(views);  // [view][part]
  double loss_sum = 0.0;
  int64_t rows_seen = 0;
  for (int64_t k = 0; k < parts; ++k) {
    Tensor logits = closure(Pass::Ascent, k);
    const std::string where = cat("pass 1 (Pass::Ascent), part ", k);
    BASIN_CHECK(logits.defined() && logits.dim() == 2 && logits.size(0) % views == 0 &&
                    rows_seen + logits.size(0) / views <= batch,
                "optimizer: the closure returned ",
                logits.defined() ? logits.str() : std::string("an undefined tensor"), " in ",
                where, "; the parts' rows must add up to the batch (", batch, " labels, ", views,
                " view(s))");
    const int64_t rows = logits.size(0) / views;
    const LossRows loss_rows = part_rows(input, rows_seen, rows);
    check_logits(logits, loss_rows.labels, views, device, where.c_str());
    // Loss and upstream gradient from a detached copy of the logits: mean over the whole batch.
    Tensor z = logits.detach();
    z.requires_grad_(true);
    Tensor per_sample = step_loss.per_sample(z, loss_rows);
    Tensor loss = mul(sum(per_sample), inv_batch);
    loss.backward();
    const double part_loss = loss.item();
    loss_sum += part_loss;
    per_sample_parts.push_back(per_sample.detach());
    const Tensor detached = logits.detach();
    for (int64_t v = 0; v < views; ++v)
      detached_parts[v].push_back(views == 1 ? detached : detached.narrow(0, v * rows, rows));
    if (!std::isfinite(part_loss)) {
      r.loss = loss_sum;
      return dump_and_skip(cat("non-finite loss ", part_loss, " at w (pass 1, part ", k, ")"));
    }
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
  r.loss = loss_sum;
  r.per_sample_loss = parts == 1 ? per_sample_parts[0] : concat(per_sample_parts, 0);
  for (int64_t v = 0; v < views; ++v)
    r.view_logits.push_back(parts == 1 ? detached_parts[v][0] : concat(detached_parts[v], 0));
  r.logits = r.view_logits[0];
  if (views == 1) r.view_logits.clear();  // logits says it all
  pass1.logits = r.logits;
  r.grad_norm = std::sqrt(dot_value(g_, g_));
  if (!std::isfinite(r.grad_norm))
    return dump_and_skip(cat("non-finite gradient norm |g| = ", r.grad_norm, " at w (pass 1)"));
  // Wrong events: one per wrong view (IDO's stage 2 counts both views).
  if (tracker_)
    for (int64_t v = 0; v < views; ++v)
      tracker_->update(input.indices, views == 1 ? r.logits : r.view_logits[v], input.labels);

  SgdStepParams base;
  base.lr = r.lr;
  base.momentum = config_.momentum;
  base.weight_decay = config_.weight_decay;
  base.nesterov = config_.nesterov;
  const Tensor decay = flat_.has_no_decay_segments() ? flat_.decay_mask() : Tensor();
  Backend& backend = backend_of(w);

  if (!two_pass) {
    r.perturb_norm = 0.0;
    backend.sgd_step(w, g_, momentum_, decay, Tensor(), base);
  } else {
    // ---- perturbation: e in e_, w += e ----
    ensure(e_);
    perturb(input, pass1, r.grad_norm, r);
    pass1.parts.clear();  // releases retained pass-1 graphs the method did not use
    // A method that met a non-finite g* / g_C or e says so here, before w moved:
    // w + e could not be undone once e holds a NaN.
    if (!r.skip_reason.empty()) return dump_and_skip(r.skip_reason);
    r.perturbed = true;
    if (std::isnan(r.perturb_norm)) r.perturb_norm = std::sqrt(dot_value(e_, e_));
    auto restore = [&] {
      NoGrad no_grad;
      w.add_(e_, -1.0);
    };
    // ---- pass 2 at w + e: g2 into its own arena, BN running stats frozen ----
    ensure(g2_);
    flat_.route_grads(g2_);
    {
      NoGrad no_grad;
      g2_.zero_();
    }
    try {
      double loss2_sum = 0.0;
      int64_t offset = 0;
      for (int64_t k = 0; k < parts; ++k) {
        Tensor logits2;
        {
          nn::FreezeBatchNormStats freeze;
          logits2 = closure(Pass::Descent, k);
        }
        const std::string where = cat("pass 2 (Pass::Descent), part ", k);
        BASIN_CHECK(logits2.defined() && logits2.dim() == 2 && logits2.size(0) % views == 0 &&
                        offset + logits2.size(0) / views <= batch,
                    "optimizer: the closure returned ",
                    logits2.defined() ? logits2.str() : std::string("an undefined tensor"), " in ",
                    where, "; expected the same rows as in pass 1");
        const int64_t rows = logits2.size(0) / views;
        const LossRows loss_rows = part_rows(input, offset, rows);
        check_logits(logits2, loss_rows.labels, views, device, where.c_str());
        Tensor loss2 = mul(sum(step_loss.per_sample(logits2, loss_rows)), inv_batch);
        const double part_loss = loss2.item();
        loss2_sum += part_loss;
        offset += rows;
        if (!std::isfinite(part_loss)) break;
        loss2.backward();
      }
      r.loss_perturbed = loss2_sum;
      if (std::isfinite(loss2_sum)) r.descent_grad_norm = std::sqrt(dot_value(g2_, g2_));
    } catch (...) {
      restore();
      flat_.route_grads(g_);
      throw;
    }
    flat_.route_grads(g_);
    if (!std::isfinite(r.loss_perturbed) || !std::isfinite(r.descent_grad_norm)) {
      restore();
      const std::string what = !std::isfinite(r.loss_perturbed)
                                   ? cat("non-finite loss ", r.loss_perturbed)
                                   : cat("non-finite gradient norm |g2| = ", r.descent_grad_norm);
      return dump_and_skip(what + " at w + e (pass 2)");
    }
    // ---- restore w (w -= e) and base SGD step with g2, one pass over the arena ----
    backend.sgd_step(w, g2_, momentum_, decay, e_, base);
  }

  if (input.observe && r.perturbed) {
    r.cos_g_e = cosine(g_, e_, r.grad_norm, r.perturb_norm);
    r.cos_g_g2 = cosine(g_, g2_, r.grad_norm, r.descent_grad_norm);
    if (!std::isnan(r.aux_grad_norm)) r.cos_g_aux = cosine(g_, aux_, r.grad_norm, r.aux_grad_norm);
  }
  if (input.observe && input.clean_labels.defined())
    r.batch_wrong_share = wrong_share(input.labels, input.clean_labels);
  ++steps_taken_;
  consecutive_skips_ = 0;
  r.consecutive_skips = 0;
  r.total_skips = total_skips_;
  if (!input.dump_path.empty()) write_dump(input, r, w_before, momentum_before);
  return r;
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
