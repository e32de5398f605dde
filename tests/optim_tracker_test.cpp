// SampleTracker updates against hand computation, split-quality measures
// against brute force, and CA-SAM's split refit on a synthetic history.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

struct RowStats {
  double p, loss;
  int64_t pred;
};

RowStats row_stats(const std::vector<double>& z, int64_t label) {
  double mx = z[0];
  int64_t arg = 0;
  for (size_t c = 1; c < z.size(); ++c)
    if (z[c] > mx) { mx = z[c]; arg = static_cast<int64_t>(c); }
  double s = 0;
  for (double v : z) s += std::exp(v - mx);
  const double logp = z[label] - mx - std::log(s);
  return {std::exp(logp), -logp, arg};
}

}  // namespace

TEST_CASE("optim: tracker update matches hand-computed wrong events, EMA, loss and prediction") {
  const double beta = 0.9;
  SampleTracker tracker(6, Device::cpu(), beta);
  const std::vector<std::vector<double>> z1 = {{2.0, 0.1, -1.0}, {0.3, 1.2, 0.2}, {-0.5, 0.4, 2.2}};
  const std::vector<int64_t> idx1 = {4, 1, 0}, lab1 = {0, 2, 2};
  std::vector<double> flat1;
  for (auto& r : z1) flat1.insert(flat1.end(), r.begin(), r.end());
  tracker.update(from_vector<int64_t>(idx1, {3}), from_vector<double>(flat1, {3, 3}),
                 from_vector<int64_t>(lab1, {3}));
  const std::vector<std::vector<double>> z2 = {{0.0, 0.5, 0.1}, {1.0, 1.5, -2.0}, {0.2, 3.0, 0.0}};
  const std::vector<int64_t> idx2 = {1, 5, 4}, lab2 = {1, 0, 0};
  std::vector<double> flat2;
  for (auto& r : z2) flat2.insert(flat2.end(), r.begin(), r.end());
  tracker.update(from_vector<int64_t>(idx2, {3}), from_vector<double>(flat2, {3, 3}),
                 from_vector<int64_t>(lab2, {3}));

  // expected, by hand
  std::vector<double> wrong(6, 0), visits(6, 0), ema(6, 0), loss(6, 0);
  std::vector<int64_t> pred(6, -1), label(6, -1);
  auto apply = [&](const std::vector<std::vector<double>>& z, const std::vector<int64_t>& idx,
                   const std::vector<int64_t>& lab) {
    for (size_t k = 0; k < idx.size(); ++k) {
      const int64_t i = idx[k];
      const RowStats s = row_stats(z[k], lab[k]);
      wrong[i] += s.pred != lab[k];
      ema[i] = visits[i] == 0 ? s.p : beta * ema[i] + (1 - beta) * s.p;
      visits[i] += 1;
      loss[i] = s.loss;
      pred[i] = s.pred;
      label[i] = lab[k];
    }
  };
  apply(z1, idx1, lab1);
  apply(z2, idx2, lab2);
  CHECK(tracker.wrong_events().dtype() == DType::I32);
  CHECK(tracker.wrong_event_values() == wrong);
  CHECK(tracker.visit_values() == visits);
  const std::vector<double> got_ema = tracker.ema_values();
  const std::vector<double> got_loss = tracker.last_loss_values();
  for (int i = 0; i < 6; ++i) {
    CHECK(got_ema[i] == doctest::Approx(ema[i]).epsilon(1e-6));  // f32 storage
    CHECK(got_loss[i] == doctest::Approx(loss[i]).epsilon(1e-6));
  }
  CHECK(tracker.last_prediction().to_vector<int64_t>() == pred);
  CHECK(tracker.last_label().to_vector<int64_t>() == label);

  // state round trip
  SampleTracker restored(6, Device::cpu());
  restored.load_state(tracker.state_tensors());
  CHECK(restored.ema_beta() == beta);
  CHECK(restored.ema_values() == tracker.ema_values());
  CHECK(restored.wrong_event_values() == tracker.wrong_event_values());
  CHECK(restored.last_prediction().to_vector<int64_t>() == pred);
  SampleTracker wrong_size(7, Device::cpu());
  CHECK_THROWS_WITH_AS(wrong_size.load_state(tracker.state_tensors()), doctest::Contains("7 samples"), Error);
  CHECK_THROWS_AS(tracker.update(from_vector<int64_t>({0}, {1}), zeros({2, 3}, DType::F64),
                                 from_vector<int64_t>({0, 1}, {2})),
                  Error);
}

TEST_CASE("optim: split quality and rank AUC against brute force") {
  Generator gen(3);
  const int n = 200;
  std::vector<uint8_t> truth(n), pred(n);
  std::vector<double> score(n);
  for (int i = 0; i < n; ++i) {
    truth[i] = gen.uniform() < 0.7;
    pred[i] = gen.uniform() < (truth[i] ? 0.9 : 0.2);
    score[i] = static_cast<double>(gen.randint(5)) + (truth[i] ? 0 : 2);  // ties on purpose
  }
  const SplitQuality q = split_quality(pred, truth, score);
  double tp = 0, pc = 0, tc = 0, wins = 0, pairs = 0;
  for (int i = 0; i < n; ++i) {
    tp += pred[i] && truth[i];
    pc += pred[i];
    tc += truth[i];
  }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (!truth[i] && truth[j]) {  // noisy i vs clean j
        pairs += 1;
        wins += score[i] > score[j] ? 1.0 : (score[i] == score[j] ? 0.5 : 0.0);
      }
  CHECK(q.precision == doctest::Approx(tp / pc));
  CHECK(q.recall == doctest::Approx(tp / tc));
  CHECK(q.auc == doctest::Approx(wins / pairs).epsilon(1e-12));
  CHECK(q.predicted_clean == static_cast<int64_t>(pc));
  CHECK(std::isnan(rank_auc({1, 2}, {1, 1})));
}

TEST_CASE("optim: CA-SAM refits its clean split from the tracker (all three criteria)") {
  const int64_t n = 45;
  // 3 classes x 15 samples; samples 0..3 of each class are noisy: the model
  // confidently predicts another class for them.
  std::vector<int64_t> labels(n);
  std::vector<uint8_t> truth(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = i / 15;
    truth[i] = (i % 15) >= 4;
  }
  auto model = make_tiny_model(2);
  FlatParams flat = bind(*model, Device::cpu());
  for (const std::string split : {"ema-gmm", "wrong-bmm", "low-loss"}) {
    CAPTURE(split);
    SampleTracker tracker(n, Device::cpu());
    OptimConfig c;
    c.method = "casam";
    c.schedule = "constant";
    c.warmup_epochs = 0;
    c.clean_split = split;
    c.clean_fraction = 0.6;
    auto opt = make_optimizer(c, flat, &tracker);
    auto* casam = dynamic_cast<CaSam*>(opt.get());
    REQUIRE(casam != nullptr);
    CHECK(casam->num_likely_clean() == n);  // before any split: everyone
    Generator gen(10);
    for (int visit = 0; visit < 3; ++visit) {
      std::vector<double> z;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t cls = 0; cls < 3; ++cls) {
          const bool favoured = truth[i] ? cls == labels[i] : cls == (labels[i] + 1) % 3;
          z.push_back((favoured ? 2.5 : 0.0) + 0.4 * gen.normal());
        }
      tracker.update(arange(n), from_vector<double>(z, {n, 3}), from_vector<int64_t>(labels, {n}));
    }
    casam->begin_epoch(1);  // refits (epoch >= max(warmup, 1))
    const std::vector<double> mask = casam->clean_mask().to(DType::F64).to_vector<double>();
    std::vector<uint8_t> predicted(n);
    for (int64_t i = 0; i < n; ++i) predicted[i] = mask[i] > 0.5;
    const SplitQuality q = split_quality(predicted, truth, tracker.wrong_event_values());
    CHECK(q.auc == doctest::Approx(1.0));  // wrong events separate perfectly here
    CHECK(q.precision == 1.0);
    if (split == "low-loss") {
      CHECK(q.predicted_clean == 3 * 9);  // ceil(0.6 * 15) per class
    } else {
      CHECK(q.recall == 1.0);
      CHECK(casam->last_fit().mean[0] < casam->last_fit().mean[1]);
    }
  }
}

TEST_CASE("optim: noisy-label AUC of wrong events and of the loss, by hand") {
  // Samples 0 and 3 are visited and mislabelled, 1, 2, 4 visited and right; 5 never visited.
  const std::vector<int64_t> clean = {0, 1, 2, 3, 4, 5}, noisy = {1, 1, 2, 0, 4, 0};
  const std::vector<double> visits = {1, 2, 1, 1, 3, 0};
  const std::vector<double> events = {3, 1, 0, 1, 2, 9};
  const std::vector<double> loss = {0.2, 0.5, 0.1, 2.0, 0.3, 7.0};
  const NoisyLabelAuc auc = noisy_label_auc(events, loss, visits, noisy, clean);
  // Wrong events, (wrong, right) pairs: 3 beats 1, 0, 2 (3 pairs); 1 ties 1 (1/2), beats 0, loses to 2: 4.5 / 6.
  CHECK(auc.wrong_events == doctest::Approx(0.75));
  // Loss: 0.2 beats only 0.1 (1); 2.0 beats all three (3): 4 / 6.
  CHECK(auc.loss == doctest::Approx(4.0 / 6.0));
  CHECK(std::isnan(noisy_label_auc({1, 2}, {1, 2}, {1, 1}, {0, 1}, {0, 1}).loss));  // no wrong label
  CHECK_THROWS_AS(noisy_label_auc({1}, {1, 2}, {1, 1}, {0, 1}, {0, 1}), Error);
}
