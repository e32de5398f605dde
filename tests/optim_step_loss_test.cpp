// The pluggable step loss: a two-view loss (IDO's) under SGD and SAM against
// a reference that runs the two forward passes on an unbound copy of the
// model and applies the update rules with plain vectors; and NCSAM under it
// takes its margins and temporary labels from view 0 (the weak view).
#include <doctest/doctest.h>

#include "core/error.h"
#include "optim/factory.h"
#include "optim/ido_loss.h"
#include "optim/ncsam.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

constexpr int64_t kSamples = 12;

struct TwoViews {
  Tensor weak, strong, labels, indices;
  std::vector<double> p_clean, epsilon;  // per dataset sample
};

TwoViews make_views(uint64_t seed) {
  Generator gen(seed);
  TwoViews v;
  v.weak = random_images(kBatch, gen);
  v.strong = random_images(kBatch, gen);
  v.labels = random_labels(kBatch, gen);
  v.indices = from_vector<int64_t>({9, 2, 11, 0, 5, 7, 3, 10}, {kBatch});
  for (int64_t i = 0; i < kSamples; ++i) {
    v.p_clean.push_back(gen.uniform());
    v.epsilon.push_back(2.0 * gen.uniform());
  }
  return v;
}

// Reference: gradient and value of the mean IDO loss at w, two separate forwards.
Vec reference_grad(nn::Module& ref, const Vec& w, const TwoViews& v, double* loss, Vec* weak_logits,
                   Vec* strong_logits) {
  set_flat_values(ref, w);
  for (auto& [name, slot] : ref.named_parameters()) slot->set_grad(Tensor());
  nn::FreezeBatchNormStats freeze;
  const Tensor zw = ref.forward(v.weak), zs = ref.forward(v.strong);
  if (weak_logits) *weak_logits = to_vec(zw);
  if (strong_logits) *strong_logits = to_vec(zs);
  const Tensor pc = index_select(from_vector<double>(v.p_clean, {kSamples}), v.indices);
  const Tensor eps = index_select(from_vector<double>(v.epsilon, {kSamples}), v.indices);
  const IdoTerms t = ido_terms(zw, zs, v.labels, pc, eps);
  Tensor l = mean(add(add(t.ce, t.sim), t.ent));
  if (loss) *loss = l.item();
  l.backward();
  Vec g;
  for (auto& [name, slot] : ref.named_parameters()) {
    const Vec part = slot->grad().defined() ? to_vec(slot->grad()) : Vec(slot->numel(), 0.0);
    g.insert(g.end(), part.begin(), part.end());
  }
  return g;
}

OptimConfig plain_config(const std::string& method) {
  OptimConfig c;
  c.method = method;
  c.lr = 0.1;
  c.momentum = 0.0;
  c.weight_decay = 0.0;
  c.schedule = "constant";
  c.epochs = 2;
  c.steps_per_epoch = 1;
  c.warmup_epochs = 0;
  c.seed = 77;
  return c;
}

StepResult one_step(Optimizer& opt, nn::Module& model, const TwoViews& v) {
  StepInput in;
  in.labels = v.labels;
  in.indices = v.indices;
  in.progress = 0.7;
  // Each view its own forward pass (its own BatchNorm statistics), stacked view-major.
  return opt.step([&](Pass) { return concat({model.forward(v.weak), model.forward(v.strong)}, 0); }, in);
}

}  // namespace

TEST_CASE("optim: a two-view step loss under SGD and SAM matches the reference update") {
  for (const std::string method : {"sgd", "sam"}) {
    CAPTURE(method);
    const OptimConfig cfg = plain_config(method);
    const TwoViews v = make_views(3);
    auto model = make_tiny_model(11);
    FlatParams flat = bind(*model, Device::cpu(), bind_options(cfg));
    SampleTracker tracker(kSamples, Device::cpu(), cfg.ema_beta);
    auto opt = make_optimizer(cfg, flat, &tracker);
    opt->set_loss(std::make_shared<IdoLoss>(v.p_clean, v.epsilon, Device::cpu(), DType::F64));
    auto ref_model = make_tiny_model(11);
    const Vec w0 = flat_values(*ref_model);
    double loss = 0;
    Vec zw, zs;
    const Vec g = reference_grad(*ref_model, w0, v, &loss, &zw, &zs);
    const StepResult r = one_step(*opt, *model, v);
    REQUIRE_FALSE(r.skipped);
    CHECK(r.loss == doctest::Approx(loss).epsilon(1e-12));
    CHECK(max_abs_diff(to_vec(r.logits), zw) < 1e-12);
    REQUIRE(r.view_logits.size() == 2);
    CHECK(max_abs_diff(to_vec(r.view_logits[1]), zs) < 1e-12);
    CHECK(max_abs_diff(to_vec(opt->grad_at_w()), g) < 1e-10);
    Vec step_grad = g;
    if (method == "sam") {
      const double a = resolved_rho(cfg) / (norm(g) + 1e-12);
      Vec w_e = w0;
      for (size_t i = 0; i < w_e.size(); ++i) w_e[i] += a * g[i];
      double loss2 = 0;
      step_grad = reference_grad(*ref_model, w_e, v, &loss2, nullptr, nullptr);
      CHECK(r.loss_perturbed == doctest::Approx(loss2).epsilon(1e-12));
    }
    Vec expect = w0;
    for (size_t i = 0; i < expect.size(); ++i) expect[i] -= cfg.lr * step_grad[i];
    CHECK(max_abs_diff(flat_values(*model), expect) < 1e-10);
    // Wrong events: one per wrong view.
    const std::vector<int64_t> lab = v.labels.to_vector<int64_t>(), idx = v.indices.to_vector<int64_t>();
    std::vector<double> wrong(kSamples, 0.0);
    for (int64_t i = 0; i < kBatch; ++i)
      for (const Vec* z : {&zw, &zs}) {
        int64_t best = 0;
        for (int64_t c = 1; c < kClasses; ++c)
          if ((*z)[i * kClasses + c] > (*z)[i * kClasses + best]) best = c;
        wrong[idx[i]] += best != lab[i];
      }
    CHECK(tracker.wrong_event_values() == wrong);
  }
}

TEST_CASE("optim: NCSAM under a two-view loss takes margins and temporary labels from the weak view") {
  OptimConfig cfg = plain_config("ncsam");
  cfg.r_flip = 0.5;
  const TwoViews v = make_views(4);
  auto model = make_tiny_model(12);
  FlatParams flat = bind(*model, Device::cpu(), bind_options(cfg));
  auto opt = make_optimizer(cfg, flat, nullptr);
  opt->set_loss(std::make_shared<IdoLoss>(v.p_clean, v.epsilon, Device::cpu(), DType::F64));
  auto ref_model = make_tiny_model(12);
  Vec zw;
  reference_grad(*ref_model, flat_values(*ref_model), v, nullptr, &zw, nullptr);
  const StepResult r = one_step(*opt, *model, v);
  REQUIRE(r.chosen.defined());
  CHECK(r.chosen.numel() == kBatch / 2);
  const Tensor weak = from_vector<double>(zw, {kBatch, kClasses});
  const Tensor expected = index_select(runner_up_labels(weak, v.labels), r.chosen);
  CHECK(expected.to_vector<int64_t>() == r.temporary_labels.to_vector<int64_t>());
  CHECK(r.aux_grad_norm > 0);
  CHECK(std::isfinite(r.loss_perturbed));
}

TEST_CASE("optim: set_loss refuses an empty loss and the step names a wrong number of rows") {
  const OptimConfig cfg = plain_config("sgd");
  const TwoViews v = make_views(5);
  auto model = make_tiny_model(13);
  FlatParams flat = bind(*model, Device::cpu(), bind_options(cfg));
  auto opt = make_optimizer(cfg, flat, nullptr);
  CHECK_THROWS_AS(opt->set_loss(nullptr), Error);
  opt->set_loss(std::make_shared<IdoLoss>(v.p_clean, v.epsilon, Device::cpu(), DType::F64));
  StepInput in;
  in.labels = v.labels;
  in.indices = v.indices;
  CHECK_THROWS_WITH_AS(opt->step([&](Pass) { return model->forward(v.weak); }, in),
                       doctest::Contains("view"), Error);
}
