// What a captured step (optim/captured_step.h, `--cuda-graph`) rests on that
// the CPU can check: the per-step values read from device tensors (lr, s(t),
// the Philox offset of NCSAM's draw) give the same bits as the same values
// passed as launch arguments, and a backend without capture refuses with the
// reason. The capture itself is compared with the uncaptured step in the CUDA
// parity suite (tests/cuda_parity.cpp), which runs on a GPU.
#include <doctest/doctest.h>

#include <string>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "optim/captured_step.h"
#include "optim/factory.h"
#include "optim/sampling.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

OptimConfig config_for(const std::string& method) {
  OptimConfig c = tiny_config(method);
  c.schedule = "cosine";  // lr changes every step: a value baked into a launch would show
  c.lr_warmup_steps = 2;
  c.epochs = 2;
  return c;
}

struct Run {
  std::shared_ptr<nn::Sequential> model = make_tiny_model(7);
  FlatParams flat = bind(*model, Device::cpu());
  std::unique_ptr<Optimizer> opt;
  explicit Run(const std::string& method) { opt = make_optimizer(config_for(method), flat); }
};

StepInput input_for(const Tensor& y, int64_t step) {
  StepInput in;
  in.labels = y;
  in.step = step;
  in.epoch = step / 3;
  in.progress = 0.2 + 0.15 * static_cast<double>(step);  // s(t) changes every step
  in.observe = false;
  in.read_back = false;
  return in;
}

}  // namespace

TEST_CASE("optim: lr, s(t) and the Philox offset read from device tensors give the same bits as launch arguments") {
  for (const char* method : {"sgd", "sam", "asam", "ncsam"}) {
    INFO(method);
    Run host(method), device(method);
    device.opt->use_device_step_values(true);
    for (int64_t step = 0; step < 4; ++step) {
      Generator gen(300 + static_cast<uint64_t>(step));
      const Tensor x = random_images(kBatch, gen), y = random_labels(kBatch, gen);
      const StepInput in = input_for(y, step);
      host.opt->step([&](Pass) { return host.model->forward(x); }, in);
      device.opt->stage_step_values(in);
      device.opt->step([&](Pass) { return device.model->forward(x); }, in);
    }
    const std::vector<StepResult> a = host.opt->sync(), b = device.opt->sync();
    CHECK(to_vec(host.flat.params()) == to_vec(device.flat.params()));
    CHECK(to_vec(host.opt->momentum()) == to_vec(device.opt->momentum()));
    CHECK(host.opt->generator().offset() == device.opt->generator().offset());
    if (std::string(method) != "sgd") {
      CHECK(to_vec(host.opt->perturbation()) == to_vec(device.opt->perturbation()));
      CHECK(to_vec(host.opt->grad_at_perturbed()) == to_vec(device.opt->grad_at_perturbed()));
    }
    if (std::string(method) == "ncsam") {
      CHECK(to_vec(host.opt->aux_grad()) == to_vec(device.opt->aux_grad()));
      CHECK(to_vec(a.back().chosen) == to_vec(b.back().chosen));
    }
    CHECK(a.back().loss == b.back().loss);
  }
}

TEST_CASE("optim: a device step value changes what the kernel does (the test can fail)") {
  Run host("sam"), device("sam");
  device.opt->use_device_step_values(true);
  Generator gen(5);
  const Tensor x = random_images(kBatch, gen), y = random_labels(kBatch, gen);
  StepInput in = input_for(y, 3);
  host.opt->step([&](Pass) { return host.model->forward(x); }, in);
  StepInput staged = in;
  staged.step = 1;  // another lr than the step runs with
  device.opt->stage_step_values(staged);
  device.opt->step([&](Pass) { return device.model->forward(x); }, in);
  CHECK(to_vec(host.flat.params()) != to_vec(device.flat.params()));
}

TEST_CASE("optim: gumbel_top_k with the offset on the device draws what the host offset draws") {
  Generator a(17), b(17);
  a.advance(40);
  b.advance(40);
  const Tensor log_p = log(from_vector<double>({0.1, 0.3, 0.05, 0.2, 0.15, 0.2}, {6}));
  const Tensor offset = from_vector<int64_t>({static_cast<int64_t>(b.offset())}, {1});
  Tensor keys_a, keys_b;
  const Tensor chosen_a = gumbel_top_k(log_p, 3, a, &keys_a);
  const Tensor chosen_b = gumbel_top_k(log_p, 3, b, &keys_b, offset);
  CHECK(to_vec(chosen_a) == to_vec(chosen_b));
  CHECK(to_vec(keys_a) == to_vec(keys_b));
  CHECK(a.offset() == b.offset());
}

TEST_CASE("optim: staging step values needs them switched on") {
  Run run("sam");
  Generator gen(1);
  const Tensor y = random_labels(kBatch, gen);
  CHECK_THROWS_WITH_AS(run.opt->stage_step_values(input_for(y, 0)),
                       doctest::Contains("use_device_step_values(true)"), Error);
}

TEST_CASE("optim: the CPU backend refuses a captured step with the reason") {
  Run run("sam");
  CHECK(CapturedStep::refusal(*run.opt).find("needs the CUDA backend") != std::string::npos);
  auto forward = [&](const Tensor& x) { return run.model->forward(x); };
  CHECK_THROWS_WITH_AS(CapturedStep(*run.opt, forward),
                       doctest::Contains("--cuda-graph: cannot capture the sam step: the parameters are on cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(backend_for(Device::cpu()).begin_capture(),
                       doctest::Contains("cannot capture a step as a CUDA graph"), Error);
}
