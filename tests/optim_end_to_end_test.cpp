// End to end: SAM, NCSAM and CA-SAM train the tiny conv net on a synthetic
// 3-class problem with 25% symmetric label noise; each must learn (training
// loss drops clearly, clean test accuracy far above chance), and CA-SAM's
// split must find mostly clean samples.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>

#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

constexpr int64_t kTrain = 480, kTest = 240, kBatchSize = 32, kEpochs = 8;
constexpr int64_t kFeatures = kChannels * kSide * kSide;

struct Problem {
  Tensor x_train, y_noisy, x_test, y_test;
  std::vector<uint8_t> clean;
};

Problem make_problem() {
  Generator gen(2024);
  const Tensor means = mul(randn({kClasses, kFeatures}, gen, DType::F64), 0.6);
  const std::vector<double> mu = means.to_vector<double>();
  auto draw = [&](int64_t n, std::vector<int64_t>& labels) {
    std::vector<double> x(static_cast<size_t>(n * kFeatures));
    labels.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      labels[i] = gen.randint(kClasses);
      for (int64_t f = 0; f < kFeatures; ++f) x[i * kFeatures + f] = mu[labels[i] * kFeatures + f] + gen.normal();
    }
    return from_vector<double>(x, {n, kChannels, kSide, kSide});
  };
  Problem p;
  std::vector<int64_t> y_train, y_test;
  p.x_train = draw(kTrain, y_train);
  p.x_test = draw(kTest, y_test);
  std::vector<int64_t> noisy = y_train;
  p.clean.resize(kTrain);
  for (int64_t i = 0; i < kTrain; ++i) {
    if (gen.uniform() < 0.25) noisy[i] = (y_train[i] + 1 + gen.randint(kClasses - 1)) % kClasses;
    p.clean[i] = noisy[i] == y_train[i];
  }
  p.y_noisy = from_vector<int64_t>(noisy, {kTrain});
  p.y_test = from_vector<int64_t>(y_test, {kTest});
  return p;
}

double accuracy(nn::Module& model, const Tensor& x, const Tensor& y) {
  model.eval();
  NoGrad no_grad;
  const std::vector<int64_t> pred = argmax(model.forward(x), 1).to_vector<int64_t>();
  model.train();
  const std::vector<int64_t> truth = y.to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

struct Outcome {
  double first_epoch_loss, last_epoch_loss, test_accuracy;
  SplitQuality split;
};

Outcome train(const Problem& p, OptimConfig c) {
  auto model = make_tiny_model(17);
  c.epochs = kEpochs;
  c.steps_per_epoch = kTrain / kBatchSize;
  FlatParams flat = bind(*model, Device::cpu(), bind_options(c));
  SampleTracker tracker(kTrain, Device::cpu(), c.ema_beta);
  auto opt = make_optimizer(c, flat, &tracker);
  Generator shuffle(5);
  Outcome out{0, 0, 0, {}};
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    std::vector<int64_t> order(kTrain);
    for (int64_t i = 0; i < kTrain; ++i) order[i] = i;
    for (int64_t i = kTrain - 1; i > 0; --i) std::swap(order[i], order[shuffle.randint(i + 1)]);
    double epoch_loss = 0;
    for (int64_t b = 0; b < c.steps_per_epoch; ++b, ++step) {
      std::vector<int64_t> idx(order.begin() + b * kBatchSize, order.begin() + (b + 1) * kBatchSize);
      const Tensor indices = from_vector<int64_t>(idx, {kBatchSize});
      const Tensor x = index_select(p.x_train, indices);
      StepInput in;
      in.labels = index_select(p.y_noisy, indices);
      in.indices = indices;
      in.epoch = epoch;
      in.progress = (epoch + static_cast<double>(b) / c.steps_per_epoch) / kEpochs;
      in.step = step;
      in.observe = b % 5 == 0;
      const StepResult r = opt->step([&](Pass) { return model->forward(x); }, in);
      REQUIRE_FALSE(r.skipped);
      epoch_loss += r.loss / c.steps_per_epoch;
    }
    if (epoch == 0) out.first_epoch_loss = epoch_loss;
    out.last_epoch_loss = epoch_loss;
  }
  out.test_accuracy = accuracy(*model, p.x_test, p.y_test);
  if (auto* casam = dynamic_cast<CaSam*>(opt.get())) {
    const std::vector<double> mask = casam->clean_mask().to(DType::F64).to_vector<double>();
    std::vector<uint8_t> predicted(kTrain);
    for (int64_t i = 0; i < kTrain; ++i) predicted[i] = mask[i] > 0.5;
    out.split = split_quality(predicted, p.clean, tracker.wrong_event_values());
  }
  return out;
}

}  // namespace

TEST_CASE("optim: SAM, NCSAM and CA-SAM learn a small noisy-label problem") {
  const auto start = std::chrono::steady_clock::now();
  const Problem p = make_problem();
  for (const std::string method : {"sgd", "sam", "ncsam", "casam"}) {
    CAPTURE(method);
    OptimConfig c;
    c.method = method;
    c.lr = 0.05;
    c.weight_decay = 5e-4;
    c.rho = 0.05;
    c.warmup_epochs = 2;
    c.kappa = 0.1;
    c.r_flip = 0.25;
    c.seed = 3;
    const Outcome o = train(p, c);
    MESSAGE(method << ": loss " << o.first_epoch_loss << " -> " << o.last_epoch_loss
                   << ", clean test accuracy " << o.test_accuracy
                   << (method == "casam" ? ", split precision " + std::to_string(o.split.precision) +
                                               " recall " + std::to_string(o.split.recall) +
                                               " wrong-event AUC " + std::to_string(o.split.auc)
                                         : std::string()));
    CHECK(o.last_epoch_loss < 0.8 * o.first_epoch_loss);
    CHECK(o.test_accuracy > 0.75);  // chance: 1/3
    if (method == "casam") {
      CHECK(o.split.precision > 0.85);  // the noise rate is 25%
      CHECK(o.split.auc > 0.7);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("end-to-end took " << seconds << " s");
}
