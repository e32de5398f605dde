// apps: `basin plan`. Its categories are checked against hand-counted
// parameters, buffers and batch sizes of a small ResNet-20; its peak against
// the storage counters' peak of a training step built the way `basin train`
// builds it; its batch extrapolation against a third, real measurement.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "apps/plan.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "nn/models.h"
#include "optim/factory.h"

using namespace basin;
using namespace basin::apps;

namespace {

// A CIFAR ResNet-20 (3 stages of 3 basic blocks, zero-padding shortcuts, so
// no shortcut parameters) counted by hand from its layer list.
struct Resnet20Count {
  int64_t parameters = 0;
  int64_t bn_channels = 0;  // sum of the BatchNorm layers' channels
  int64_t bn_layers = 0;
};

Resnet20Count count_resnet20(int64_t in_channels, const std::vector<int64_t>& planes,
                             int64_t classes) {
  Resnet20Count c;
  auto conv3x3 = [&](int64_t in, int64_t out) { c.parameters += 9 * in * out; };
  auto bn = [&](int64_t ch) {
    c.parameters += 2 * ch;  // gamma, beta
    c.bn_channels += ch;
    c.bn_layers += 1;
  };
  conv3x3(in_channels, planes[0]);
  bn(planes[0]);
  int64_t prev = planes[0];
  for (int64_t p : planes) {
    for (int block = 0; block < 3; ++block) {
      conv3x3(prev, p);
      bn(p);
      conv3x3(p, p);
      bn(p);
      prev = p;
    }
  }
  c.parameters += prev * classes + classes;  // linear
  return c;
}

PlanRequest small_request(const std::string& optimizer, int64_t batch) {
  PlanRequest r;
  r.model = "resnet20";
  r.optimizer = optimizer;
  r.batch = batch;
  r.channels = 3;
  r.height = r.width = 8;
  r.classes = 5;
  r.width_multiplier = 0.25;  // planes 4, 8, 16
  r.dataset_size = 96;
  r.seed = 7;
  return r;
}

constexpr int64_t kF32 = 4, kI64 = 8;

}  // namespace

TEST_CASE("plan: categories match hand-counted parameters, buffers, tracker and batch") {
  const Resnet20Count hand = count_resnet20(3, {4, 8, 16}, 5);
  for (const std::string method : {"sgd", "sam", "ncsam"}) {
    CAPTURE(method);
    const PlanRequest req = small_request(method, 10);
    const MemoryPlan plan = measure_memory_plan(req);
    const PlanBytes& b = plan.bytes;
    const int64_t p = hand.parameters * kF32;
    CHECK(plan.parameter_count == hand.parameters);
    CHECK(b.parameters == p);
    CHECK(b.gradients == p);
    CHECK(b.momentum == p);
    // running mean and variance (f32) and an i64 step counter per BatchNorm,
    // plus the decay and ASAM masks of the arena.
    CHECK(b.model_buffers == hand.bn_channels * 2 * kF32 + hand.bn_layers * kI64 + 2 * p);
    // six f32 columns per sample
    CHECK(b.tracker == req.dataset_size * 6 * kF32);
    CHECK(b.batch_tensors == req.batch * 3 * 8 * 8 * kF32 + 2 * req.batch * kI64);
    if (method == "sgd") {
      CHECK(b.optimizer == p);
      CHECK(b.perturbation == 0);
      CHECK(b.descent_gradient == 0);
      CHECK(b.aux_gradient == 0);
    } else {
      CHECK(b.perturbation == p);
      CHECK(b.descent_gradient == p);
      CHECK(b.aux_gradient == (method == "ncsam" ? p : 0));
      CHECK(b.optimizer == b.momentum + b.perturbation + b.descent_gradient + b.aux_gradient);
    }
    CHECK(b.activations > b.batch_tensors);  // at least one feature map per layer
    CHECK(b.workspace >= 0);
    CHECK(b.peak == b.persistent() + b.activations + b.workspace);
  }
}

TEST_CASE("plan: the peak is the storage counters' peak of a step built like basin train's") {
  for (const std::string method : {"sgd", "sam", "ncsam"}) {
    CAPTURE(method);
    const PlanRequest req = small_request(method, 12);
    const MemoryPlan plan = measure_memory_plan(req);

    // The same run, built independently: model, arena, tracker, optimizer; one
    // step to allocate the optimizer's lazy buffers, then the measured step.
    const int64_t baseline = storage_stats(DeviceType::CPU).live_bytes;
    int64_t peak = 0;
    {
      optim::OptimConfig config;
      config.method = method;
      config.schedule = "constant";
      config.epochs = 1;
      config.steps_per_epoch = 1;
      config.warmup_epochs = 0;
      Generator gen(req.seed);
      auto model = nn::make_model(req.model, req.classes, 3, req.width_multiplier, gen);
      model->train();
      optim::FlatParams flat = optim::bind(*model, Device::cpu(), optim::bind_options(config));
      optim::SampleTracker tracker(req.dataset_size, Device::cpu(), config.ema_beta);
      auto opt = optim::make_optimizer(config, flat, &tracker);
      auto step = [&](int64_t batch, bool measure) {
        const Tensor x = randn({batch, 3, 8, 8}, gen, DType::F32, Device::cpu());
        std::vector<int64_t> labels, indices;
        for (int64_t i = 0; i < batch; ++i) {
          labels.push_back(i % req.classes);
          indices.push_back(i);
        }
        optim::StepInput in;
        in.labels = from_vector<int64_t>(labels, {batch});
        in.indices = from_vector<int64_t>(indices, {batch});
        in.progress = 0.5;
        in.observe = false;
        if (measure) reset_storage_peak(DeviceType::CPU);
        const optim::StepResult r = opt->step([&](optim::Pass) { return model->forward(x); }, in);
        REQUIRE_FALSE(r.skipped);
      };
      step(8, false);
      step(req.batch, true);
      peak = storage_stats(DeviceType::CPU).peak_bytes - baseline;
    }
    CHECK(storage_stats(DeviceType::CPU).live_bytes == baseline);  // everything released
    CHECK(plan.bytes.peak == peak);
  }
}

TEST_CASE("plan: linear extrapolation in the batch size predicts a third measured peak") {
  const MemoryPlan plan = measure_memory_plan(small_request("sam", 16));
  CHECK(plan.second_batch == 8);
  CHECK(plan.bytes_per_sample > 0);
  const MemoryPlan bigger = measure_memory_plan(small_request("sam", 32));
  const double predicted = plan.fixed_bytes + plan.bytes_per_sample * 32;
  CHECK(std::abs(predicted - static_cast<double>(bigger.bytes.peak)) <
        0.05 * static_cast<double>(bigger.bytes.peak));
  // largest_batch: the largest B whose extrapolated peak fits.
  const double capacity = plan.fixed_bytes + plan.bytes_per_sample * 100.5;
  CHECK(plan.largest_batch(capacity) == 100);
  CHECK(plan.largest_batch(plan.fixed_bytes) == 0);
}

TEST_CASE("plan: bad requests are errors naming the field") {
  auto error_of = [](PlanRequest r) -> std::string {
    try {
      measure_memory_plan(r);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  PlanRequest r = small_request("sgd", 1);
  CHECK(error_of(r).find("--batch-size") != std::string::npos);
  r = small_request("sgd", 8);
  r.dataset_size = 5;
  CHECK(error_of(r).find("--dataset-size") != std::string::npos);
  r = small_request("adam", 8);
  CHECK(error_of(r).find("adam") != std::string::npos);
}
