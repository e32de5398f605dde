// NCSAM against SAM: kappa = 0 through the NCSAM code path is SAM after the
// same warm-up (bit for bit), and the g* backward pass is skipped exactly when
// s(t) = 0, where it could not change e. Backward passes are counted by a node
// the test puts between the model and the optimizer, not by the optimizer.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/error.h"
#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

constexpr int64_t kStepsPerEpoch = 2;

OptimConfig config_for(const std::string& method) {
  OptimConfig c;
  c.method = method;
  c.lr = 0.1;
  c.weight_decay = 5e-3;
  c.schedule = "cosine";
  c.epochs = 3;
  c.steps_per_epoch = kStepsPerEpoch;
  c.rho = 0.08;
  c.r_flip = 0.25;
  c.seed = 99;
  return c;
}

// The logits, passed through an identity node that counts the backward passes
// reaching the model.
Tensor counted(const Tensor& logits, int& backward_passes) {
  Tensor out;
  {
    NoGrad no_grad;
    out = mul(logits, 1.0);
  }
  return record("count_backward", out, {logits}, [&backward_passes](const Tensor& grad) {
    ++backward_passes;
    return std::vector<Tensor>{grad};
  });
}

struct Trainee {
  std::shared_ptr<nn::Sequential> model = make_tiny_model(3);
  FlatParams flat;
  std::unique_ptr<Optimizer> opt;
  int backward_passes = 0;

  explicit Trainee(const OptimConfig& c) : flat(bind(*model, Device::cpu(), bind_options(c))) {
    opt = make_optimizer(c, flat);
  }
  StepResult step(const Tensor& x, const Tensor& y, int64_t global_step, double progress) {
    StepInput in;
    in.labels = y;
    in.epoch = global_step / kStepsPerEpoch;
    in.progress = progress;
    in.step = global_step;
    return opt->step([&](Pass) { return counted(model->forward(x), backward_passes); }, in);
  }
};

struct Batches {
  std::vector<Tensor> x, y;
};

Batches make_batches(int n) {
  Generator gen(8);
  Batches b;
  for (int k = 0; k < n; ++k) {
    b.x.push_back(random_images(kBatch, gen));
    b.y.push_back(random_labels(kBatch, gen));
  }
  return b;
}

double progress_of(int64_t step, int64_t epochs) {
  return static_cast<double>(step) / static_cast<double>(kStepsPerEpoch * epochs);
}

}  // namespace

TEST_CASE("optim: NCSAM with kappa 0 is SAM after the same warm-up, bit for bit") {
  OptimConfig nc = config_for("ncsam");
  nc.kappa = 0;
  nc.warmup_epochs = 1;
  Trainee ncsam(nc);
  // The same run by hand: SGD for the warm-up epoch, then SAM continuing from
  // SGD's momentum and counters.
  Trainee manual(config_for("sgd"));
  const int steps = static_cast<int>(nc.epochs * kStepsPerEpoch);
  const Batches data = make_batches(steps);
  for (int k = 0; k < steps; ++k) {
    CAPTURE(k);
    if (k == kStepsPerEpoch) {
      const NamedTensors sgd_state = manual.opt->state_tensors();
      manual.opt = make_optimizer(config_for("sam"), manual.flat);
      manual.opt->load_state(sgd_state);
    }
    const double t = progress_of(k, nc.epochs);
    const StepResult a = ncsam.step(data.x[k], data.y[k], k, t);
    const StepResult b = manual.step(data.x[k], data.y[k], k, t);
    CHECK(a.perturbed == (k >= kStepsPerEpoch));
    CHECK(b.perturbed == a.perturbed);
    CHECK(max_abs_diff(to_vec(ncsam.flat.params()), to_vec(manual.flat.params())) == 0.0);
    CHECK(max_abs_diff(to_vec(ncsam.opt->momentum()), to_vec(manual.opt->momentum())) == 0.0);
    if (a.perturbed) {
      CHECK(a.perturb_norm == b.perturb_norm);
      CHECK(a.s_t == 0.0);
      CHECK(a.comp_ratio == 0.0);
      CHECK(a.chosen.numel() == 2);  // rows are still drawn (and reported) ...
      CHECK(std::isnan(a.aux_grad_norm));  // ... but g* is not computed
    }
  }
  // 2 warm-up steps with one backward each, then 4 steps with two (no g*).
  CHECK(ncsam.backward_passes == 2 * 1 + 4 * 2);
  CHECK(manual.backward_passes == ncsam.backward_passes);
}

TEST_CASE("optim: NCSAM skips the g* backward pass when s(t) = 0 and only then") {
  OptimConfig nc = config_for("ncsam");
  nc.kappa = 0.5;
  nc.warmup_epochs = 0;
  nc.epochs = 2;
  Trainee ncsam(nc);
  OptimConfig sc = config_for("sam");
  sc.epochs = 2;
  Trainee sam(sc);
  const Batches data = make_batches(2);
  // t = 0: s(0) = 0, so the step is SAM's, with two backward passes.
  const StepResult first = ncsam.step(data.x[0], data.y[0], 0, 0.0);
  sam.step(data.x[0], data.y[0], 0, 0.0);
  CHECK(first.s_t == 0.0);
  CHECK(ncsam.backward_passes == 2);
  CHECK(sam.backward_passes == 2);
  CHECK(max_abs_diff(to_vec(ncsam.flat.params()), to_vec(sam.flat.params())) == 0.0);
  CHECK(max_abs_diff(to_vec(ncsam.opt->perturbation()), to_vec(sam.opt->perturbation())) == 0.0);
  // t > 0: s(t) > 0, g* costs a third backward and moves e away from SAM's.
  const double t = 0.4;
  const StepResult second = ncsam.step(data.x[1], data.y[1], 1, t);
  sam.step(data.x[1], data.y[1], 1, t);
  CHECK(second.s_t == doctest::Approx(ncsam_strength(t, 0.5)));
  CHECK(second.s_t > 0.0);
  CHECK(ncsam.backward_passes == 2 + 3);
  CHECK(sam.backward_passes == 2 + 2);
  CHECK(std::isfinite(second.aux_grad_norm));
  CHECK(second.aux_grad_norm > 0.0);
  CHECK(max_abs_diff(to_vec(ncsam.opt->perturbation()), to_vec(sam.opt->perturbation())) > 1e-6);
}

TEST_CASE("optim: NCSAM without chosen rows (r_flip * B < 1) is SAM with two backward passes") {
  OptimConfig nc = config_for("ncsam");
  nc.kappa = 0.5;
  nc.warmup_epochs = 0;
  nc.r_flip = 0.1;  // floor(0.1 * 8) = 0
  Trainee ncsam(nc);
  Trainee sam(config_for("sam"));
  const Batches data = make_batches(1);
  const StepResult r = ncsam.step(data.x[0], data.y[0], 0, 0.7);
  sam.step(data.x[0], data.y[0], 0, 0.7);
  CHECK(r.s_t > 0.0);
  CHECK(r.aux_grad_norm == 0.0);
  CHECK(r.comp_ratio == 0.0);
  CHECK_FALSE(r.chosen.defined());
  CHECK(ncsam.backward_passes == 2);
  CHECK(max_abs_diff(to_vec(ncsam.flat.params()), to_vec(sam.flat.params())) == 0.0);
}

TEST_CASE("optim: NCSAM's variant options parse, print and are validated by name") {
  OptimConfig c;
  CHECK(c.ncsam_scale == "raw");
  CHECK(c.ncsam_target == "temporary");
  set_option(c, "ncsam-scale", "normalized");
  set_option(c, "--ncsam_target", "observed");
  CHECK(c.ncsam_scale == "normalized");
  CHECK(c.ncsam_target == "observed");
  CHECK_NOTHROW(validate(c));
  CHECK(describe(c).find("ncsam_scale=normalized ncsam_target=observed") != std::string::npos);
  OptimConfig bad_scale;
  bad_scale.ncsam_scale = "unit";
  CHECK_THROWS_WITH_AS(validate(bad_scale), doctest::Contains("--ncsam-scale"), Error);
  CHECK_THROWS_WITH_AS(validate(bad_scale), doctest::Contains("'unit'"), Error);
  OptimConfig bad_target;
  bad_target.ncsam_target = "clean";
  CHECK_THROWS_WITH_AS(validate(bad_target), doctest::Contains("--ncsam-target"), Error);
  OptimConfig bad_flip;
  bad_flip.r_flip = 1.5;
  CHECK_THROWS_WITH_AS(validate(bad_flip), doctest::Contains("--r-flip"), Error);
  CHECK_THROWS_WITH_AS(set_option(c, "kappa", "lots"), doctest::Contains("--kappa"), Error);
}
