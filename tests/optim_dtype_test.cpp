// The training dtype is f32: every method runs on an f32 model and lands within
// f32 rounding of the same step taken in f64 (checks the dtype plumbing of
// masks, sampling, temporary labels and the tracker).
#include <doctest/doctest.h>

#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

TEST_CASE("optim: every method steps an f32 model like the f64 one, to f32 precision") {
  Generator gen(41);
  const Tensor x64 = random_images(kBatch, gen);
  const Tensor y = random_labels(kBatch, gen);
  const Tensor x32 = x64.to(DType::F32);
  for (const std::string method : {"sgd", "sam", "asam", "ncsam", "casam"}) {
    CAPTURE(method);
    OptimConfig c;
    c.method = method;
    c.lr = 0.05;
    c.schedule = "constant";
    c.warmup_epochs = 0;
    c.kappa = 0.2;
    c.r_flip = 0.25;
    c.seed = 8;
    std::vector<Vec> weights;
    std::vector<std::vector<int64_t>> chosen;
    for (DType dt : {DType::F64, DType::F32}) {
      auto model = make_tiny_model(13);
      model->to(dt);
      FlatParams flat = bind(*model, Device::cpu());
      REQUIRE(flat.dtype() == dt);
      SampleTracker tracker(kBatch, Device::cpu());
      auto opt = make_optimizer(c, flat, &tracker);
      const Tensor& x = dt == DType::F64 ? x64 : x32;
      StepResult r;
      for (int k = 0; k < 2; ++k) {
        StepInput in;
        in.labels = y;
        in.indices = arange(kBatch);
        in.step = k;
        in.progress = 0.4;
        r = opt->step([&](Pass) { return model->forward(x); }, in);
        REQUIRE_FALSE(r.skipped);
      }
      weights.push_back(to_vec(flat.params()));
      chosen.push_back(r.chosen.defined() ? r.chosen.to_vector<int64_t>() : std::vector<int64_t>{});
      CHECK(tracker.visit_values() == std::vector<double>(kBatch, 2.0));
    }
    CHECK(max_abs_diff(weights[0], weights[1]) < 1e-5);
    CHECK(chosen[0] == chosen[1]);
    CHECK(max_abs_diff(weights[0], flat_values(*make_tiny_model(13))) > 1e-3);  // it moved
  }
}
