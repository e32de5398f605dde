// Captured steps (see captured_step.h): warm-up, capture, replay and the
// bookkeeping that makes a replay look like an Optimizer::step to the caller.
#include "optim/captured_step.h"

#include <cmath>
#include <string>

#include "core/autograd.h"
#include "core/error.h"

namespace basin::optim {

namespace {

Tensor copy_out(const Tensor& t) { return t.defined() ? t.clone() : t; }

// The graph's scalars are overwritten by the next replay: a pending step keeps copies.
StepScalars copy_out(const StepScalars& s) {
  StepScalars out = s;
  for (Tensor& t : out.loss_parts) t = copy_out(t);
  for (Tensor& t : out.loss2_parts) t = copy_out(t);
  for (Tensor* t : {&out.g_dot, &out.aux_dot, &out.e_dot_raw, &out.g2_dot, &out.e_dot, &out.clean_count,
                    &out.g_e, &out.g_g2, &out.g_aux, &out.poison})
    *t = copy_out(*t);
  return out;
}

}  // namespace

std::string CapturedStep::refusal(const Optimizer& optimizer) {
  const Tensor& w = optimizer.flat_.params();
  const Backend& backend = backend_of(w);
  if (!backend.can_capture())
    return cat("the parameters are on ", w.device().str(),
               ": capturing a step as a CUDA graph needs the CUDA backend on a CUDA device");
  if (std::string(optimizer.name()) == "casam")
    return "CA-SAM's step is not captured (its clean-mask refit reads the sample tracker on the host)";
  if (optimizer.loss().views() != 1)
    return cat("the loss '", optimizer.loss().name(), "' takes ", optimizer.loss().views(),
               " views per sample; a captured step takes one");
  return "";
}

CapturedStep::CapturedStep(Optimizer& optimizer, Forward forward)
    : opt_(optimizer), forward_(std::move(forward)), backend_(backend_of(optimizer.flat_.params())) {
  const std::string why = refusal(optimizer);
  BASIN_CHECK(why.empty(), "--cuda-graph: cannot capture the ", optimizer.name(), " step: ", why);
  opt_.use_device_step_values(true);
}

CapturedStep::~CapturedStep() { drop_graph(); }

void CapturedStep::drop_graph() {
  template_.reset();
  work_.reset();  // gives the graph's memory back to the allocator
}

CapturedStep::Kind CapturedStep::kind_of(const Tensor& x, const StepInput& input) const {
  Kind k;
  k.x_shape = x.shape();
  k.batch = input.labels.defined() ? input.labels.numel() : 0;
  k.two_pass = opt_.second_pass(input);
  k.keeps_graph = k.two_pass && opt_.needs_pass1_graph(input);
  return k;
}

StepResult CapturedStep::step(const Tensor& x, const StepInput& input) {
  BASIN_CHECK(x.defined(), "captured step: the batch x is undefined");
  BASIN_CHECK(opt_.loss().views() == 1, "--cuda-graph: the loss '", opt_.loss().name(), "' takes ",
              opt_.loss().views(), " views per sample; a captured step takes one (call Optimizer::step)");
  const bool plain = !input.read_back && !input.observe && input.dump_path.empty() && input.micro_batches == 1;
  if (!plain) {  // a host reason to run eagerly; the values are staged all the same
    ++counts_.eager;
    opt_.enter_epoch(input);
    opt_.stage_step_values(input);
    return opt_.step([&](Pass) { return forward_(x); }, input);
  }
  const Kind kind = kind_of(x, input);
  if (work_ && !(kind == kind_)) {
    BASIN_CHECK(kind.x_shape == kind_.x_shape && kind.batch == kind_.batch,
                "--cuda-graph: this step's batch is ", shape_str(kind.x_shape), " with ", kind.batch,
                " labels, the captured graph was made for ", shape_str(kind_.x_shape), " with ", kind_.batch,
                "; a captured step needs every plain step's batch the same shape (an epoch's last, "
                "partial batch reads back and runs eagerly)");
    drop_graph();  // the method's phase changed (warm-up over, s(t) > 0): warm up again
    warm_ = false;
  }
  if (!warm_ || !(kind == kind_)) return warm_up(x, input, kind);
  return work_ ? replay(x, input) : capture(x, input);
}

StepResult CapturedStep::warm_up(const Tensor& x, const StepInput& input, const Kind& kind) {
  ++counts_.warmups;
  opt_.enter_epoch(input);  // a sync here would otherwise be part of the recording
  opt_.stage_step_values(input);
  // The allocator notes what this step needs at once; begin_capture sets that aside.
  backend_.record_allocations();
  StepResult r = opt_.step([&](Pass) { return forward_(x); }, input);
  kind_ = kind;
  warm_ = true;
  return r;
}

void CapturedStep::load_batch(const Tensor& x, const StepInput& input) {
  NoGrad no_grad;
  if (!x_fixed_.defined() || x_fixed_.shape() != x.shape()) {
    x_fixed_ = empty(x.shape(), x.dtype(), x.device());
    labels_fixed_ = empty(input.labels.shape(), input.labels.dtype(), input.labels.device());
  }
  // Device-to-device copies on the step's stream, ahead of the graph's launch.
  x_fixed_.copy_(x);
  labels_fixed_.copy_(input.labels);
  opt_.enter_epoch(input);
  opt_.stage_step_values(input);
}

StepResult CapturedStep::capture(const Tensor& x, const StepInput& input) {
  load_batch(x, input);
  StepInput fixed = input;
  fixed.labels = labels_fixed_;
  const size_t pending_before = opt_.pending_.size();
  const uint64_t offset_before = opt_.generator_.offset();
  const uint64_t reads_before = device_to_host_reads();
  backend_.begin_capture();
  try {
    // Runs the host side of the step once; the device work is recorded, not run.
    opt_.step([&](Pass) { return forward_(x_fixed_); }, fixed);
    work_ = backend_.end_capture();
  } catch (const Error& e) {
    backend_.abort_capture();
    opt_.generator_.set_state(opt_.generator_.seed(), offset_before);
    opt_.pending_.resize(pending_before);
    fail(cat("--cuda-graph: capturing the ", opt_.name(), " step failed: ", e.what(),
             "; run without --cuda-graph"));
  }
  const uint64_t reads = device_to_host_reads() - reads_before;
  BASIN_CHECK(reads == 0 && opt_.pending_.size() == pending_before + 1, "--cuda-graph: the captured ",
              opt_.name(), " step read ", reads, " value(s) from the device; a captured step must read none");
  ++counts_.captures;
  draws_per_step_ = opt_.generator_.offset() - offset_before;
  opt_.generator_.set_state(opt_.generator_.seed(), offset_before);  // replay() advances it again
  template_ = std::make_unique<Optimizer::PendingStep>(std::move(opt_.pending_.back()));
  opt_.pending_.pop_back();
  return launch(input);  // capturing ran nothing: the first launch is this step
}

StepResult CapturedStep::replay(const Tensor& x, const StepInput& input) {
  load_batch(x, input);
  return launch(input);
}

StepResult CapturedStep::launch(const StepInput& input) {
  work_->replay();
  ++counts_.replays;
  opt_.generator_.advance(draws_per_step_);
  return book(input);
}

StepResult CapturedStep::book(const StepInput& input) {
  NoGrad no_grad;
  const Optimizer::PendingStep& t = *template_;
  Optimizer::PendingStep p;
  p.step = input.step;
  p.epoch = input.epoch;
  p.scalars = copy_out(t.scalars);
  if (p.scalars.comp_mode != 0) p.scalars.s_t = opt_.step_strength(input);
  StepResult& r = p.result;
  r = t.result;
  r.lr = opt_.schedule_.lr(input.step);
  if (!std::isnan(t.result.s_t)) r.s_t = opt_.step_strength(input);
  r.per_sample_loss = copy_out(t.result.per_sample_loss);
  r.logits = copy_out(t.result.logits);
  r.view_logits = {r.logits};
  r.chosen = copy_out(t.result.chosen);
  r.temporary_labels = copy_out(t.result.temporary_labels);
  if (opt_.tracker_) {  // the caller's tensors: the fixed buffers change with the next batch
    p.indices = input.indices;
    p.labels = input.labels;
  }
  return opt_.push_pending(std::move(p), false);
}

}  // namespace basin::optim
