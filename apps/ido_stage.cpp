// IDO's stage bookkeeping; see ido_stage.h.
#include "apps/ido_stage.h"

#include "core/error.h"
#include "nn/state_dict.h"

namespace basin::apps {

namespace {

constexpr const char* kBasePrefix = "ido.base.";

const Tensor* find(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& require(const NamedTensors& tensors, const std::string& name) {
  const Tensor* t = find(tensors, name);
  BASIN_CHECK(t, "IDO state: checkpoint tensor '", name, "' is missing");
  return *t;
}

NamedTensors cloned_state(nn::Module& model) {
  NamedTensors out;
  for (const auto& [name, t] : nn::state_dict(model)) out.emplace_back(name, t.clone());
  return out;
}

}  // namespace

IdoStage::IdoStage(const IdoConfig& config, std::vector<int64_t> noisy_labels, int64_t num_classes)
    : config_(config),
      labels_(std::move(noisy_labels)),
      previous_(labels_.size(), -1),
      mixture_(num_classes, config.per_class) {}

int64_t IdoStage::record_stage1_epoch(int64_t epoch, const std::vector<int64_t>& predictions, nn::Module& model) {
  BASIN_CHECK(predictions.size() == previous_.size(), "IDO: ", predictions.size(), " predictions for ",
              previous_.size(), " samples");
  int64_t changed = 0;
  for (size_t i = 0; i < predictions.size(); ++i) changed += predictions[i] != previous_[i];
  previous_ = predictions;
  changes_.push_back(changed);
  const size_t k = changes_.size();
  if (base_epoch_ < 0 && k >= 2 && changes_[k - 1] >= changes_[k - 2]) {
    base_epoch_ = epoch;
    base_ = cloned_state(model);
  }
  return changed;
}

void IdoStage::finish_stage1(int64_t last_epoch, nn::Module& model) {
  if (base_epoch_ >= 0) return;
  base_epoch_ = last_epoch;
  base_ = cloned_state(model);
}

void IdoStage::load_base(nn::Module& model) const {
  BASIN_CHECK(base_epoch_ >= 0 && !base_.empty(), "IDO: no base model was chosen in stage 1");
  nn::load_state_dict(model, base_);
}

std::shared_ptr<optim::IdoLoss> IdoStage::fit(const std::vector<double>& wrong_events, int iterations,
                                              Device device, IdoFitReport* report) {
  mixture_.fit(wrong_events, labels_, iterations);
  const optim::DifficultyReadout r = mixture_.read_out(wrong_events, labels_);
  p_clean_ = r.p_clean;
  epsilon_.resize(p_clean_.size());
  for (size_t i = 0; i < epsilon_.size(); ++i)
    epsilon_[i] = optim::ido_epsilon(r.p_clean[i], r.p_noisy[i], r.cdf_clean[i], r.cdf_noisy[i]);
  if (report) {
    report->fits = mixture_.fits();
    report->mean_p_clean = report->mean_epsilon = 0;
    for (size_t i = 0; i < p_clean_.size(); ++i) {
      report->mean_p_clean += p_clean_[i] / static_cast<double>(p_clean_.size());
      report->mean_epsilon += epsilon_[i] / static_cast<double>(p_clean_.size());
    }
    report->clamped_above = r.clamped_above;
  }
  return loss(device);
}

std::shared_ptr<optim::IdoLoss> IdoStage::loss(Device device) const {
  BASIN_CHECK(!p_clean_.empty(), "IDO: the mixture has not been fitted");
  return std::make_shared<optim::IdoLoss>(p_clean_, epsilon_, device);
}

NamedTensors IdoStage::state_tensors() const {
  NamedTensors out;
  const int64_t n = static_cast<int64_t>(previous_.size());
  out.emplace_back("ido.previous_predictions", from_vector<int64_t>(previous_, {n}));
  std::vector<int64_t> history = changes_;
  history.insert(history.begin(), base_epoch_);  // [base epoch, changes per epoch...]
  out.emplace_back("ido.label_wave", from_vector<int64_t>(history, {static_cast<int64_t>(history.size())}));
  for (const auto& [name, t] : base_) out.emplace_back(kBasePrefix + name, t);
  for (auto& entry : mixture_.state_tensors()) out.push_back(entry);
  if (!p_clean_.empty()) {
    out.emplace_back("ido.p_clean", from_vector<double>(p_clean_, {n}));
    out.emplace_back("ido.epsilon", from_vector<double>(epsilon_, {n}));
  }
  return out;
}

void IdoStage::load_state(const NamedTensors& tensors) {
  const std::vector<int64_t> previous = require(tensors, "ido.previous_predictions").to_vector<int64_t>();
  BASIN_CHECK(previous.size() == previous_.size(), "IDO state: 'ido.previous_predictions' has ", previous.size(),
              " entries, the training set ", previous_.size());
  previous_ = previous;
  const std::vector<int64_t> history = require(tensors, "ido.label_wave").to_vector<int64_t>();
  BASIN_CHECK(!history.empty(), "IDO state: 'ido.label_wave' is empty");
  base_epoch_ = history[0];
  changes_.assign(history.begin() + 1, history.end());
  base_.clear();
  const std::string prefix = kBasePrefix;
  for (const auto& [name, t] : tensors)
    if (name.rfind(prefix, 0) == 0) base_.emplace_back(name.substr(prefix.size()), t.clone());
  mixture_.load_state(tensors);
  p_clean_.clear();
  epsilon_.clear();
  if (const Tensor* p = find(tensors, "ido.p_clean")) {
    p_clean_ = p->to_vector<double>();
    epsilon_ = require(tensors, "ido.epsilon").to_vector<double>();
  }
}

}  // namespace basin::apps
