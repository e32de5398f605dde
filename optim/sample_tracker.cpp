// SampleTracker updates (gather, compute, scatter on the device) and the
// clean-split quality measures.
#include "optim/sample_tracker.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

namespace {

// arr[idx] = value, exactly: subtracting the old rows gives exact zeros, and
// adding onto zero is exact. Indices must be distinct.
void put_rows(Tensor& arr, const Tensor& idx, const Tensor& old_rows, const Tensor& value) {
  Tensor negated = neg(old_rows);
  backend_of(arr).index_add_rows(negated, idx, arr);
  Tensor v = value.contiguous();
  backend_of(arr).index_add_rows(v, idx, arr);
}

std::vector<double> host_values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::F64).to_vector<double>();
}

}  // namespace

SampleTracker::SampleTracker(int64_t num_samples, Device device, double ema_beta)
    : num_samples_(num_samples), device_(device), ema_beta_(ema_beta) {
  BASIN_CHECK(num_samples > 0, "SampleTracker: num_samples must be > 0, got ", num_samples);
  BASIN_CHECK(ema_beta >= 0.0 && ema_beta < 1.0, "SampleTracker: ema_beta must be in [0, 1), got ",
              ema_beta);
  wrong_ = zeros({num_samples}, DType::F32, device);
  visits_ = zeros({num_samples}, DType::F32, device);
  ema_ = zeros({num_samples}, DType::F32, device);
  loss_ = zeros({num_samples}, DType::F32, device);
  prediction_ = full({num_samples}, -1.0, DType::F32, device);
  label_ = full({num_samples}, -1.0, DType::F32, device);
}

void SampleTracker::update(const Tensor& indices, const Tensor& logits, const Tensor& labels) {
  BASIN_CHECK(num_samples_ > 0, "SampleTracker.update: tracker was default-constructed");
  BASIN_CHECK(logits.defined() && logits.dim() == 2, "SampleTracker.update: logits must be [B, C], got ",
              logits.defined() ? logits.str() : std::string("undefined"));
  const int64_t batch = logits.size(0);
  BASIN_CHECK(indices.defined() && indices.dtype() == DType::I64 && indices.dim() == 1 &&
                  indices.numel() == batch,
              "SampleTracker.update: indices must be i64 [", batch, "], got ",
              indices.defined() ? indices.str() : std::string("undefined"));
  BASIN_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.numel() == batch,
              "SampleTracker.update: labels must be i64 [", batch, "], got ",
              labels.defined() ? labels.str() : std::string("undefined"));
  BASIN_CHECK(logits.device() == device_ && indices.device() == device_ &&
                  labels.device() == device_,
              "SampleTracker.update: tracker is on ", device_.str(), " but got logits ",
              logits.str(), ", indices ", indices.str(), ", labels ", labels.str());
  NoGrad no_grad;
  const Tensor z = logits.detach();
  const Tensor idx = indices.contiguous();
  const Tensor loss = cross_entropy_per_sample(z, labels, 0.0).to(DType::F32);
  const Tensor p = exp(neg(loss));
  const Tensor pred = argmax(z, 1);
  const Tensor right = compare(BinaryOp::Eq, pred, labels.reshape({batch})).to(DType::F32);
  const Tensor wrong = add(neg(right), 1.0);

  const Tensor old_visits = index_select(visits_, idx);
  const Tensor first = compare(BinaryOp::Eq, old_visits, 0.0);
  const Tensor old_ema = index_select(ema_, idx);
  const Tensor blended = add(mul(old_ema, ema_beta_), mul(p, 1.0 - ema_beta_));
  const Tensor new_ema = add(mul(first, p), mul(add(neg(first), 1.0), blended));
  put_rows(ema_, idx, old_ema, new_ema);
  put_rows(loss_, idx, index_select(loss_, idx), loss);
  put_rows(prediction_, idx, index_select(prediction_, idx), pred.to(DType::F32));
  put_rows(label_, idx, index_select(label_, idx), labels.reshape({batch}).to(DType::F32));
  backend_of(wrong_).index_add_rows(wrong.contiguous(), idx, wrong_);
  Tensor one = ones({batch}, DType::F32, device_);
  backend_of(visits_).index_add_rows(one, idx, visits_);
}

Tensor SampleTracker::wrong_events() const { return wrong_.to(DType::I32); }
Tensor SampleTracker::visits() const { return visits_.to(DType::I32); }
Tensor SampleTracker::ema_confidence() const { return ema_.clone(); }
Tensor SampleTracker::last_loss() const { return loss_.clone(); }
Tensor SampleTracker::last_prediction() const { return prediction_.to(DType::I64); }
Tensor SampleTracker::last_label() const { return label_.to(DType::I64); }

std::vector<double> SampleTracker::wrong_event_values() const { return host_values(wrong_); }
std::vector<double> SampleTracker::visit_values() const { return host_values(visits_); }
std::vector<double> SampleTracker::ema_values() const { return host_values(ema_); }
std::vector<double> SampleTracker::last_loss_values() const { return host_values(loss_); }
std::vector<double> SampleTracker::last_label_values() const { return host_values(label_); }

NamedTensors SampleTracker::state_tensors(const std::string& prefix) const {
  return {{prefix + "wrong_events", wrong_events()},
          {prefix + "visits", visits()},
          {prefix + "ema", ema_.clone()},
          {prefix + "last_loss", loss_.clone()},
          {prefix + "last_prediction", last_prediction()},
          {prefix + "last_label", last_label()},
          {prefix + "ema_beta", full({}, ema_beta_, DType::F64)}};
}

void SampleTracker::load_state(const NamedTensors& tensors, const std::string& prefix) {
  BASIN_CHECK(num_samples_ > 0, "SampleTracker.load_state: construct the tracker with its size first");
  auto find = [&](const std::string& name) -> Tensor {
    for (const auto& [n, t] : tensors)
      if (n == prefix + name) return t;
    fail(cat("SampleTracker.load_state: tensor '", prefix, name, "' is missing"));
  };
  NoGrad no_grad;
  auto restore = [&](const std::string& name, Tensor& dst) {
    const Tensor src = find(name);
    BASIN_CHECK(src.numel() == num_samples_, "SampleTracker.load_state: '", prefix, name, "' has ",
                src.numel(), " elements, the tracker has ", num_samples_, " samples");
    dst.copy_(src.to(Device::cpu()).reshape({num_samples_}).to(DType::F32).to(device_));
  };
  restore("wrong_events", wrong_);
  restore("visits", visits_);
  restore("ema", ema_);
  restore("last_loss", loss_);
  restore("last_prediction", prediction_);
  restore("last_label", label_);
  ema_beta_ = find("ema_beta").item();
}

double rank_auc(const std::vector<double>& scores, const std::vector<uint8_t>& positive) {
  BASIN_CHECK(scores.size() == positive.size(), "rank_auc: ", scores.size(), " scores but ",
              positive.size(), " labels");
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + j) + 1.0;  // 1-based mid-rank
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mid;
    i = j + 1;
  }
  double pos = 0, rank_sum = 0;
  for (size_t i = 0; i < n; ++i)
    if (positive[i]) {
      pos += 1;
      rank_sum += rank[i];
    }
  const double neg_count = static_cast<double>(n) - pos;
  if (pos == 0 || neg_count == 0) return NAN;
  return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg_count);
}

SplitQuality split_quality(const std::vector<uint8_t>& predicted_clean,
                           const std::vector<uint8_t>& true_clean,
                           const std::vector<double>& scores) {
  BASIN_CHECK(predicted_clean.size() == true_clean.size() && scores.size() == true_clean.size(),
              "split_quality: sizes differ (predicted ", predicted_clean.size(), ", truth ",
              true_clean.size(), ", scores ", scores.size(), ")");
  SplitQuality q;
  int64_t both = 0;
  std::vector<uint8_t> noisy(true_clean.size());
  for (size_t i = 0; i < true_clean.size(); ++i) {
    q.predicted_clean += predicted_clean[i] != 0;
    q.true_clean += true_clean[i] != 0;
    both += predicted_clean[i] != 0 && true_clean[i] != 0;
    noisy[i] = true_clean[i] == 0;
  }
  q.precision = q.predicted_clean > 0 ? static_cast<double>(both) / q.predicted_clean : NAN;
  q.recall = q.true_clean > 0 ? static_cast<double>(both) / q.true_clean : NAN;
  q.auc = rank_auc(scores, noisy);
  return q;
}

NoisyLabelAuc noisy_label_auc(const std::vector<double>& wrong_events, const std::vector<double>& last_loss,
                              const std::vector<double>& visits, const std::vector<int64_t>& noisy,
                              const std::vector<int64_t>& clean) {
  const size_t n = wrong_events.size();
  BASIN_CHECK(last_loss.size() == n && visits.size() == n && noisy.size() == n && clean.size() == n,
              "noisy_label_auc: the per-sample vectors differ in length (", n, " wrong-event counts, ",
              last_loss.size(), " losses, ", visits.size(), " visit counts, ", noisy.size(), " and ", clean.size(),
              " labels)");
  std::vector<double> events, losses;
  std::vector<uint8_t> wrong;
  for (size_t i = 0; i < n; ++i) {
    if (visits[i] <= 0) continue;
    events.push_back(wrong_events[i]);
    losses.push_back(last_loss[i]);
    wrong.push_back(noisy[i] != clean[i]);
  }
  return {rank_auc(events, wrong), rank_auc(losses, wrong)};
}

}  // namespace basin::optim
