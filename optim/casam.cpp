// CA-SAM: clean split from the tracker's history and the clean-subset ascent.
#include "optim/casam.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

CaSam::CaSam(const OptimConfig& config, FlatParams& flat, SampleTracker* tracker)
    : Sam(config, flat, tracker) {
  BASIN_CHECK(tracker_ != nullptr,
              "optimizer casam: needs a SampleTracker (make_optimizer(config, flat, &tracker))");
  clean_mask_ = ones({tracker_->size()}, DType::F32, flat_.device());
}

void CaSam::set_clean_mask(const Tensor& mask) {
  BASIN_CHECK(mask.defined() && mask.numel() == tracker_->size(), "casam.set_clean_mask: mask must have ",
              tracker_->size(), " elements (one per training sample), got ",
              mask.defined() ? mask.str() : std::string("undefined"));
  NoGrad no_grad;
  clean_mask_ = mask.to(Device::cpu()).reshape({tracker_->size()}).to(DType::F32).to(flat_.device());
}

int64_t CaSam::num_likely_clean() const {
  return static_cast<int64_t>(std::llround(sum(clean_mask_).item()));
}

void CaSam::refit_split() {
  const std::vector<double> visits = tracker_->visit_values();
  const size_t n = visits.size();
  std::vector<size_t> seen;
  for (size_t i = 0; i < n; ++i)
    if (visits[i] > 0) seen.push_back(i);
  std::vector<float> mask(n, 1.0f);  // never visited: no evidence, counted clean
  last_fit_ = MixtureFit();
  if (seen.size() >= 2) {
    const std::string& split = config_.clean_split;
    if (split == "low-loss") {
      const std::vector<double> loss = tracker_->last_loss_values();
      const std::vector<double> label = tracker_->last_label_values();
      std::map<int64_t, std::vector<size_t>> by_class;
      for (size_t i : seen) by_class[static_cast<int64_t>(label[i])].push_back(i);
      for (auto& [cls, members] : by_class) {
        std::stable_sort(members.begin(), members.end(),
                         [&](size_t a, size_t b) { return loss[a] < loss[b]; });
        const size_t keep = static_cast<size_t>(
            std::ceil(config_.clean_fraction * static_cast<double>(members.size())));
        for (size_t k = 0; k < members.size(); ++k) mask[members[k]] = k < keep ? 1.0f : 0.0f;
      }
    } else {
      const bool ema = split == "ema-gmm";
      const std::vector<double> all = ema ? tracker_->ema_values() : tracker_->wrong_event_values();
      std::vector<double> values;
      values.reserve(seen.size());
      for (size_t i : seen) values.push_back(all[i]);
      if (ema) {
        last_fit_ = fit_gaussian_mixture2(values);
      } else {
        last_fit_ = fit_beta_mixture2(min_max_normalize(values));
      }
      for (size_t k = 0; k < seen.size(); ++k) {
        const double p_high = last_fit_.posterior_high[k];
        // EMA: clean = high confidence; wrong events: clean = few wrong events.
        const bool clean = last_fit_.degenerate || (ema ? p_high > 0.5 : 1.0 - p_high > 0.5);
        mask[seen[k]] = clean ? 1.0f : 0.0f;
      }
    }
  }
  NoGrad no_grad;
  clean_mask_ = from_vector<float>(mask, {static_cast<int64_t>(n)}).to(flat_.device());
}

void CaSam::begin_epoch(int64_t epoch) {
  if (static_cast<double>(epoch) >= resolved_warmup_epochs(config_) && epoch >= 1) refit_split();
}

bool CaSam::second_pass(const StepInput& input) const {
  return static_cast<double>(input.epoch) >= resolved_warmup_epochs(config_);
}

void CaSam::perturb(const StepInput& input, const Pass1& pass1, StepResult& result) {
  BASIN_CHECK(input.indices.defined(), "optimizer casam: StepInput.indices is required");
  Tensor weights, count;
  {
    NoGrad no_grad;
    const Tensor in_batch = index_select(clean_mask_, input.indices).to(pass1.logits.dtype());
    result.clean_mask = in_batch;
    // 1 / count in f64 on the device, then rounded once: the same factor as
    // the host's 1.0 / count. A batch without likely-clean members gets weights 0
    // (g_C = 0) and the kernel falls back to SAM's ascent along g.
    const Tensor count64 = sum(in_batch.to(DType::F64));
    Backend& backend = backend_of(count64);
    Tensor factor = empty({}, DType::F64, count64.device());
    backend.binary_scalar(BinaryOp::Max, count64, 1.0, factor);
    backend.unary(UnaryOp::Reciprocal, factor, factor);
    weights = mul(in_batch, factor.to(in_batch.dtype()));
    count = count64.to(g_.dtype());
  }
  backprop_weighted_loss(pass1, input.labels, weights, config_.label_smoothing, aux_);
  scalars_.clean_count = count;
  scalars_.aux_dot = dot(aux_, aux_);
  scalars_.aux_name = "clean-subset gradient norm |g_C|";
  scalars_.check_finite(scalars_.aux_dot);
  Tensor w = flat_.params();
  backend_of(w).casam_perturb(w, e_, aux_, scalars_.aux_dot, g_, scalars_.g_dot, count, scalars_.poison,
                              ascent_params(config_));
}

void CaSam::add_dump_entries(NamedTensors& tensors, const StepResult& result) const {
  if (result.clean_mask.defined()) tensors.emplace_back("casam.batch_clean_mask", result.clean_mask);
  if (result.num_clean > 0 && aux_.defined()) tensors.emplace_back("casam.g_clean", aux_);
}

NamedTensors CaSam::state_tensors() const {
  NamedTensors out = Sam::state_tensors();
  out.emplace_back("casam.clean_mask", clean_mask_.clone());
  return out;
}

void CaSam::load_state(const NamedTensors& tensors) {
  Sam::load_state(tensors);
  for (const auto& [name, t] : tensors)
    if (name == "casam.clean_mask") {
      set_clean_mask(t);
      return;
    }
  fail("optimizer casam: load_state: 'casam.clean_mask' is missing");
}

}  // namespace basin::optim
