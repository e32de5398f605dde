// Whole-split evaluation; see evaluation.h.
#include "apps/evaluation.h"

#include <algorithm>
#include <cstring>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "data/augment.h"

namespace basin::apps {

AugmentSpec normalization_spec(const std::vector<double>& mean, const std::vector<double>& std) {
  BASIN_CHECK(mean.size() == std.size() && !mean.empty() && mean.size() <= 4,
              "normalisation constants: expected 1 to 4 channels of mean and std, got ", mean.size(), " and ",
              std.size());
  AugmentSpec spec;
  for (size_t c = 0; c < mean.size(); ++c) {
    BASIN_CHECK(std[c] > 0, "normalisation std of channel ", c, " must be > 0, got ", std[c]);
    spec.mean[c] = static_cast<float>(mean[c]);
    spec.std[c] = static_cast<float>(std[c]);
  }
  return spec;
}

EvalResult evaluate(nn::Module& model, const data::Dataset& dataset, const AugmentSpec& spec, Device device,
                    int64_t batch_size, bool keep_logits) {
  BASIN_CHECK(batch_size > 0, "evaluate: batch size must be > 0, got ", batch_size);
  const int64_t n = dataset.size();
  const int classes = dataset.num_classes;
  EvalResult r;
  r.samples = n;
  r.class_samples.assign(classes, 0);
  r.class_correct.assign(classes, 0);
  std::vector<int64_t> predictions(static_cast<size_t>(n));
  std::vector<float> logits;
  const bool was_training = model.is_training();
  model.eval();
  NoGrad no_grad;
  double loss_sum = 0;
  try {
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t end = std::min(n, start + batch_size);
      const Tensor x = data::normalize(dataset.images.slice(start, end).to(device), spec);
      const Tensor labels = dataset.labels.slice(start, end);
      const Tensor out = model.forward(x);
      BASIN_CHECK(out.dim() == 2 && out.size(1) == classes, "evaluate: the model returns ", out.str(),
                  ", expected [B, ", classes, "] for dataset '", dataset.name, "'");
      loss_sum += cross_entropy(out, labels.to(device)).item() * static_cast<double>(end - start);
      const std::vector<int64_t> pred = argmax(out, 1).to_vector<int64_t>();
      const std::vector<int64_t> truth = labels.to_vector<int64_t>();
      for (int64_t i = 0; i < end - start; ++i) {
        predictions[start + i] = pred[i];
        r.class_samples[truth[i]] += 1;
        if (pred[i] == truth[i]) {
          r.correct += 1;
          r.class_correct[truth[i]] += 1;
        }
      }
      if (keep_logits) {
        const std::vector<float> v = out.to(DType::F32).to_vector<float>();
        logits.insert(logits.end(), v.begin(), v.end());
      }
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  r.accuracy = n ? static_cast<double>(r.correct) / n : 0.0;
  r.loss = n ? loss_sum / n : 0.0;
  r.predictions = from_vector<int64_t>(predictions, {n});
  if (keep_logits) r.logits = from_vector<float>(logits, {n, classes});
  return r;
}

}  // namespace basin::apps
