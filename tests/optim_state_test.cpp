// Checkpoint round trip: save the optimizer state (through a safetensors
// file), continue two steps; restore into a fresh model and optimizer and
// continue the same two steps: everything must agree bit for bit on the CPU.
#include <doctest/doctest.h>

#include <cstdio>

#include "core/error.h"
#include "core/safetensors.h"
#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

constexpr int64_t kN = 16;

struct Run {
  std::shared_ptr<nn::Sequential> model;
  FlatParams flat;
  SampleTracker tracker;
  std::unique_ptr<Optimizer> opt;
};

void make_run(Run& run, const OptimConfig& c, uint64_t model_seed) {
  run.model = make_tiny_model(model_seed);
  run.flat = bind(*run.model, Device::cpu(), bind_options(c));
  run.tracker = SampleTracker(kN, Device::cpu(), c.ema_beta);
  run.opt = make_optimizer(c, run.flat, &run.tracker);
}

struct Schedule5 {
  int64_t epoch, step;
  std::vector<int64_t> idx;
};

const std::vector<Schedule5>& plan() {
  static const std::vector<Schedule5> p = {
      {0, 0, {0, 1, 2, 3, 4, 5, 6, 7}},    {0, 1, {8, 9, 10, 11, 12, 13, 14, 15}},
      {1, 2, {3, 9, 1, 14, 0, 6, 12, 7}},  {1, 3, {2, 4, 5, 8, 10, 11, 13, 15}},
      {2, 4, {15, 3, 0, 9, 4, 7, 11, 2}}};
  return p;
}

StepResult do_step(Run& run, const Tensor& x_all, const Tensor& y_all, const Schedule5& s) {
  const Tensor idx = from_vector<int64_t>(s.idx, {kBatch});
  const Tensor x = index_select(x_all, idx);
  StepInput in;
  in.labels = index_select(y_all, idx);
  in.indices = idx;
  in.epoch = s.epoch;
  in.step = s.step;
  in.progress = static_cast<double>(s.step) / 10.0;
  return run.opt->step([&](Pass) { return run.model->forward(x); }, in);
}

}  // namespace

TEST_CASE("optim: state round trip continues bit-identically") {
  Generator gen(31);
  const Tensor x_all = random_images(kN, gen);
  const Tensor y_all = random_labels(kN, gen);
  for (const std::string method : {"sgd", "sam", "asam", "ncsam", "casam"}) {
    CAPTURE(method);
    OptimConfig c;
    c.method = method;
    c.lr = 0.05;
    c.nesterov = method == "sgd";
    c.no_decay_bn_bias = method == "sam";
    c.epochs = 4;
    c.steps_per_epoch = 2;  // cosine over 8 steps: the lr changes every step
    c.warmup_epochs = 0;
    c.r_flip = 0.4;
    c.kappa = 0.3;
    c.seed = 99;
    Run a;
    make_run(a, c, 11);
    for (int k = 0; k < 3; ++k) do_step(a, x_all, y_all, plan()[k]);

    // checkpoint: arena, BN buffers, optimizer state -> one file
    NamedTensors saved = a.opt->state_tensors();
    saved.emplace_back("model.params", a.flat.params().clone());
    for (auto& [name, buffer] : a.model->named_buffers()) saved.emplace_back("model." + name, buffer->clone());
    const std::string path = "optim_state_test_" + method + ".safetensors";
    safetensors::save(path, saved);
    const safetensors::File file = safetensors::load(path);
    std::remove(path.c_str());

    std::vector<StepResult> results_a;
    for (int k = 3; k < 5; ++k) results_a.push_back(do_step(a, x_all, y_all, plan()[k]));

    Run b;
    make_run(b, c, 12345);  // different initial weights: everything must come from the file
    for (const auto& [name, t] : file.tensors) {
      if (name == "model.params") b.flat.load_params(t);
      for (auto& [bname, buffer] : b.model->named_buffers())
        if (name == "model." + bname) buffer->copy_(t);
    }
    b.opt->load_state(file.tensors);
    std::vector<StepResult> results_b;
    for (int k = 3; k < 5; ++k) results_b.push_back(do_step(b, x_all, y_all, plan()[k]));

    CHECK(to_vec(b.flat.params()) == to_vec(a.flat.params()));
    if (a.opt->momentum().defined()) CHECK(to_vec(b.opt->momentum()) == to_vec(a.opt->momentum()));
    CHECK(b.opt->generator().offset() == a.opt->generator().offset());
    CHECK(b.opt->steps_taken() == a.opt->steps_taken());
    CHECK(b.tracker.ema_values() == a.tracker.ema_values());
    CHECK(b.tracker.wrong_event_values() == a.tracker.wrong_event_values());
    for (auto& [name, buffer] : a.model->named_buffers())
      for (auto& [bname, bbuffer] : b.model->named_buffers())
        if (name == bname) CHECK(to_vec(*bbuffer) == to_vec(*buffer));
    for (size_t k = 0; k < results_a.size(); ++k) {
      CHECK(results_b[k].loss == results_a[k].loss);
      CHECK(results_b[k].lr == results_a[k].lr);
      if (results_a[k].chosen.defined())
        CHECK(results_b[k].chosen.to_vector<int64_t>() == results_a[k].chosen.to_vector<int64_t>());
    }
    if (method == "casam") {
      auto* ca = dynamic_cast<CaSam*>(a.opt.get());
      auto* cb = dynamic_cast<CaSam*>(b.opt.get());
      CHECK(to_vec(cb->clean_mask()) == to_vec(ca->clean_mask()));
    }
  }
}

TEST_CASE("optim: load_state names what is missing") {
  OptimConfig c;
  c.method = "sam";
  c.steps_per_epoch = 1;
  Run run;
  make_run(run, c, 1);
  CHECK_THROWS_WITH_AS(run.opt->load_state({}), doctest::Contains("optim.momentum"), Error);
  NamedTensors state = run.opt->state_tensors();
  state.erase(state.begin() + 1);  // counters
  CHECK_THROWS_WITH_AS(run.opt->load_state(state), doctest::Contains("optim.counters"), Error);
}
