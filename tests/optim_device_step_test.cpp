// The step on the device (docs/optimizers.md, "The step on the device"):
// with read_back off a whole training step reads nothing back from the device,
// for every method, counted by the backend's device-to-host read counter; the
// arithmetic is the same with and without read-back; a non-finite step is
// skipped on the device and reported by the next sync.
#include <doctest/doctest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

const char* const kMethods[] = {"sgd", "sam", "asam", "ncsam", "casam"};

OptimConfig config_for(const std::string& method) {
  OptimConfig c = tiny_config(method);
  c.max_consecutive_skips = 3;
  return c;
}

struct Run {
  std::shared_ptr<nn::Sequential> model = make_tiny_model(5);
  FlatParams flat = bind(*model, Device::cpu());
  SampleTracker tracker{kBatch, Device::cpu()};
  std::unique_ptr<Optimizer> opt;
  explicit Run(const std::string& method) { opt = make_optimizer(config_for(method), flat, &tracker); }
};

struct Batch {
  Tensor x, y, idx;
};

Batch make_batch(uint64_t seed) {
  Generator gen(seed);
  return {random_images(kBatch, gen), random_labels(kBatch, gen), arange(kBatch)};
}

StepInput input_for(const Batch& b, int64_t step, bool read_back) {
  StepInput in;
  in.labels = b.y;
  in.indices = b.idx;
  in.step = step;
  in.epoch = 0;
  in.progress = 0.3 + 0.1 * static_cast<double>(step);  // s(t) > 0: NCSAM computes g*
  in.observe = false;
  in.read_back = read_back;
  return in;
}

// logits with one row made NaN (a poisoned batch)
Tensor poison_row(const Tensor& logits) {
  const Tensor mask = from_vector<double>({1, 0, 0, 0, 0, 0, 0, 0}, {kBatch, 1});
  return add(logits, mul(mask, std::nan("")));
}

}  // namespace

TEST_CASE("optim: with read-back off a training step reads nothing from the device, for every method") {
  for (const char* method : kMethods) {
    INFO(method);
    Run run(method);
    for (int64_t step = 0; step < 3; ++step) {
      const Batch b = make_batch(100 + static_cast<uint64_t>(step));
      auto closure = [&](Pass) { return run.model->forward(b.x); };
      const uint64_t before = device_to_host_reads();
      const StepResult r = run.opt->step(closure, input_for(b, step, /*read_back=*/false));
      CHECK(device_to_host_reads() - before == 0);
      CHECK_FALSE(r.resolved);
      CHECK(std::isnan(r.loss));  // nothing was read: the numbers wait for sync()
    }
    CHECK(run.opt->pending_steps() == 3);
    const uint64_t before = device_to_host_reads();
    const std::vector<StepResult> results = run.opt->sync();
    CHECK(device_to_host_reads() - before == 1);  // three steps' scalars in one transfer
    REQUIRE(results.size() == 3);
    for (const StepResult& r : results) {
      CHECK_FALSE(r.skipped);
      CHECK(std::isfinite(r.loss));
      CHECK(std::isfinite(r.grad_norm));
    }
    CHECK(run.opt->steps_taken() == 3);
    CHECK(run.opt->pending_steps() == 0);
  }
}

TEST_CASE("optim: read-back on and off give bit-identical weights, momentum, tracker and numbers") {
  for (const char* method : kMethods) {
    INFO(method);
    Run eager(method), deferred(method);
    StepResult a;
    for (int64_t step = 0; step < 3; ++step) {
      const Batch b = make_batch(200 + static_cast<uint64_t>(step));
      auto eager_closure = [&](Pass) { return eager.model->forward(b.x); };
      auto deferred_closure = [&](Pass) { return deferred.model->forward(b.x); };
      a = eager.opt->step(eager_closure, input_for(b, step, true));
      deferred.opt->step(deferred_closure, input_for(b, step, false));
    }
    const std::vector<StepResult> late = deferred.opt->sync();
    CHECK(to_vec(eager.flat.params()) == to_vec(deferred.flat.params()));
    CHECK(to_vec(eager.opt->momentum()) == to_vec(deferred.opt->momentum()));
    CHECK(to_vec(eager.tracker.ema_confidence()) == to_vec(deferred.tracker.ema_confidence()));
    CHECK(to_vec(eager.tracker.wrong_events()) == to_vec(deferred.tracker.wrong_events()));
    const StepResult& d = late.back();
    CHECK(a.loss == d.loss);
    CHECK(a.grad_norm == d.grad_norm);
    CHECK((a.loss_perturbed == d.loss_perturbed || (std::isnan(a.loss_perturbed) && std::isnan(d.loss_perturbed))));
    CHECK((a.aux_grad_norm == d.aux_grad_norm || (std::isnan(a.aux_grad_norm) && std::isnan(d.aux_grad_norm))));
  }
}

TEST_CASE("optim: a non-finite step is skipped on the device and reported by the next sync") {
  for (const char* method : kMethods) {
    INFO(method);
    Run run(method);
    const Batch b = make_batch(300);
    auto plain = [&](Pass) { return run.model->forward(b.x); };
    auto poisoned = [&](Pass) { return poison_row(run.model->forward(b.x)); };
    run.opt->step(plain, input_for(b, 0, false));
    run.opt->sync();
    const Vec w1 = to_vec(run.flat.params()), m1 = to_vec(run.opt->momentum());
    const uint64_t before = device_to_host_reads();
    run.opt->step(poisoned, input_for(b, 1, false));
    CHECK(device_to_host_reads() - before == 0);
    CHECK(to_vec(run.flat.params()) == w1);     // w never moved
    CHECK(to_vec(run.opt->momentum()) == m1);   // nor did the momentum
    run.opt->step(plain, input_for(b, 2, false));
    const std::vector<StepResult> results = run.opt->sync();
    REQUIRE(results.size() == 2);
    CHECK(results[0].skipped);
    CHECK_MESSAGE(results[0].skip_reason.find("non-finite loss") != std::string::npos, results[0].skip_reason);
    CHECK(results[0].consecutive_skips == 1);
    CHECK_FALSE(results[1].skipped);
    CHECK(results[1].total_skips == 1);
    CHECK(run.opt->total_skips() == 1);
    CHECK(run.opt->steps_taken() == 2);
    // The skipped step left the tracker alone: two visits per sample, from the two good steps.
    CHECK(to_vec(run.tracker.visits()) == Vec(kBatch, 2.0));
  }
}

TEST_CASE("optim: deferred skips still abort after max_consecutive_skips in a row, naming the step") {
  Run run("ncsam");
  const Batch b = make_batch(400);
  auto poisoned = [&](Pass) { return poison_row(run.model->forward(b.x)); };
  for (int64_t step = 0; step < 4; ++step) run.opt->step(poisoned, input_for(b, step, false));
  CHECK_THROWS_WITH_AS(run.opt->sync(), doctest::Contains("step 2 (epoch 0) skipped: non-finite loss"), Error);
}

TEST_CASE("optim: a checkpoint needs the pending steps synced first") {
  Run run("sam");
  const Batch b = make_batch(500);
  run.opt->step([&](Pass) { return run.model->forward(b.x); }, input_for(b, 0, false));
  CHECK_THROWS_WITH_AS(run.opt->state_tensors(), doctest::Contains("call sync() first"), Error);
  run.opt->sync();
  CHECK_NOTHROW(run.opt->state_tensors());
}
