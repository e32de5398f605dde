// ModelLoss: a model's mean cross-entropy over fixed samples; see probe_loss.h.
#include "optim/probe_loss.h"

#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/batch_norm.h"

namespace basin::optim {

BatchNormMode parse_batch_norm_mode(const std::string& text) {
  if (text == "eval") return BatchNormMode::Eval;
  if (text == "train") return BatchNormMode::Train;
  fail(cat("BatchNorm mode: expected 'eval' (running statistics) or 'train' (batch statistics), got '", text,
           "'"));
}

const char* batch_norm_mode_name(BatchNormMode mode) { return mode == BatchNormMode::Eval ? "eval" : "train"; }

ModelLoss::ModelLoss(nn::Module& model, FlatParams& flat, Tensor inputs, Tensor labels, int64_t batch_size,
                     BatchNormMode bn)
    : model_(model), flat_(flat), w_(flat.params()), inputs_(std::move(inputs)), labels_(std::move(labels)),
      batch_size_(batch_size), bn_(bn) {
  BASIN_CHECK(batch_size_ > 0, "probe loss: batch size must be > 0, got ", batch_size_);
  BASIN_CHECK(inputs_.defined() && labels_.defined() && inputs_.dim() >= 2 && labels_.dim() == 1 &&
                  inputs_.size(0) == labels_.size(0) && labels_.numel() > 0,
              "probe loss: expected inputs [N, ...] and labels [N] with N > 0, got ",
              inputs_.defined() ? inputs_.str() : "nothing", " and ", labels_.defined() ? labels_.str() : "nothing");
  BASIN_CHECK(inputs_.device() == flat_.device() && labels_.device() == flat_.device(),
              "probe loss: samples on ", inputs_.device().str(), ", parameters on ", flat_.device().str());
}

namespace {

// Puts the model back in the mode it had (the probe switches it per call).
class TrainingModeScope {
 public:
  TrainingModeScope(nn::Module& model, bool training) : model_(model), was_(model.is_training()) {
    model_.train(training);
  }
  ~TrainingModeScope() { model_.train(was_); }

 private:
  nn::Module& model_;
  bool was_;
};

}  // namespace

LossValue ModelLoss::evaluate() {
  TrainingModeScope mode(model_, bn_ == BatchNormMode::Train);
  nn::FreezeBatchNormStats freeze;
  NoGrad no_grad;
  const int64_t n = samples();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size_) {
    const int64_t end = std::min(n, start + batch_size_);
    const Tensor labels = labels_.slice(start, end);
    const Tensor logits = model_.forward(inputs_.slice(start, end));
    loss_sum += cross_entropy(logits, labels).item() * static_cast<double>(end - start);
    const std::vector<int64_t> predicted = argmax(logits, 1).to_vector<int64_t>();
    const std::vector<int64_t> truth = labels.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
  }
  return {loss_sum / static_cast<double>(n), static_cast<double>(correct) / static_cast<double>(n)};
}

double ModelLoss::gradient(Tensor& grad) {
  BASIN_CHECK(grad.defined() && grad.numel() == w_.numel() && grad.dtype() == w_.dtype() &&
                  grad.device() == w_.device() && grad.is_contiguous(),
              "probe loss: gradient buffer ", grad.defined() ? grad.str() : "undefined",
              " does not have the arena's layout ", w_.str());
  TrainingModeScope mode(model_, bn_ == BatchNormMode::Train);
  nn::FreezeBatchNormStats freeze;
  flat_.route_grads(grad);
  {
    NoGrad no_grad;
    grad.zero_();
  }
  const int64_t n = samples();
  double loss_sum = 0;
  try {
    for (int64_t start = 0; start < n; start += batch_size_) {
      const int64_t end = std::min(n, start + batch_size_);
      // Each batch's mean weighted by its share, so the sum is the mean over all N.
      const double share = static_cast<double>(end - start) / static_cast<double>(n);
      Tensor loss = mul(cross_entropy(model_.forward(inputs_.slice(start, end)), labels_.slice(start, end)), share);
      loss_sum += loss.item();
      loss.backward();
    }
  } catch (...) {
    flat_.route_grads(flat_.grads());
    throw;
  }
  flat_.route_grads(flat_.grads());
  return loss_sum;
}

}  // namespace basin::optim
