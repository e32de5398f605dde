// A captured step (optim/captured_step.h, `--cuda-graph`) against the same
// step run uncaptured, on the GPU: SAM and NCSAM, a warm-up step, the capture
// (and its launch), then two replays, each on a new batch with a new lr and
// s(t). Skipped (and says so) without a CUDA device; the first GPU session runs it.
//
// Tolerance: both runs execute the same kernels in the same order with the
// same launch configurations, cuDNN in deterministic mode and the same cuBLAS
// workspace (the captured run sets it first, the uncaptured run inherits it),
// so the results are expected bit for bit equal; the check allows a relative
// L2 difference of 1e-6 (a few f32 ulps accumulated over the arena) so that a
// GEMM or convolution algorithm chosen differently between the two runs does
// not fail it, while a value baked into the graph (a stale lr or s(t) moves w
// by ~1e-3 relative, a stale Philox offset picks other rows) cannot pass. The
// test prints whether the runs were bit-identical.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda_skip.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/models.h"
#include "optim/captured_step.h"
#include "optim/factory.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

namespace {

using namespace basin;

constexpr int64_t kBatch = 16, kClasses = 10, kSteps = 4;  // warm-up, capture, 2 replays
constexpr double kTol = 1e-6;

std::vector<double> host_values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>();
}

double relative_l2(const std::vector<double>& ref, const std::vector<double>& got) {
  if (ref.size() != got.size()) return INFINITY;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff += (ref[i] - got[i]) * (ref[i] - got[i]);
    norm += ref[i] * ref[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

optim::OptimConfig config_for(const std::string& method) {
  optim::OptimConfig c;
  c.method = method;
  c.lr = 0.05;
  c.momentum = 0.9;
  c.weight_decay = 5e-4;
  c.schedule = "cosine";  // lr changes every step
  c.epochs = 2;
  c.steps_per_epoch = kSteps;
  c.warmup_epochs = 0;
  c.r_flip = 0.25;  // NCSAM: m = 4 rows of 16
  return c;
}

struct Run {
  std::shared_ptr<nn::ResNet> model;
  optim::FlatParams flat;
  std::unique_ptr<optim::Optimizer> opt;
  explicit Run(const std::string& method, Device d) {
    model = nn::make_model("resnet20", kClasses, 3, 0.5, uint64_t{11});
    model->to(d);
    model->train();
    flat = optim::bind(*model, d);
    opt = optim::make_optimizer(config_for(method), flat);
  }
};

struct Batch {
  Tensor x, y;
};

Batch batch_for(int64_t step, Device d) {
  Generator gen(900 + static_cast<uint64_t>(step));
  Batch b;
  b.x = randn({kBatch, 3, 32, 32}, gen, DType::F32, d);
  std::vector<int64_t> labels(kBatch);
  for (auto& v : labels) v = gen.randint(kClasses);
  b.y = from_vector<int64_t>(labels, {kBatch}).to(d);
  return b;
}

optim::StepInput input_for(const Batch& b, int64_t step) {
  optim::StepInput in;
  in.labels = b.y;
  in.step = step;
  in.epoch = 0;
  in.progress = 0.1 + 0.1 * static_cast<double>(step);  // s(t) > 0 and changing
  in.observe = false;
  in.read_back = false;
  return in;
}

// The arena buffers the issue names: weights, momentum, e, g* (NCSAM).
std::vector<std::pair<std::string, Tensor>> buffers(const Run& r, bool ncsam) {
  std::vector<std::pair<std::string, Tensor>> out = {
      {"w", r.flat.params()}, {"momentum", r.opt->momentum()}, {"e", r.opt->perturbation()}};
  if (ncsam) out.emplace_back("g*", r.opt->aux_grad());
  return out;
}

// Deterministic cuDNN algorithms for the comparison (a no-op in a build without CUDA).
void set_deterministic(bool on) {
#if defined(BASIN_HAS_CUDA)
  cuda::set_deterministic(on);
#else
  (void)on;
#endif
}

}  // namespace

TEST_CASE("cuda: a captured SAM / NCSAM step (warm-up, capture, 2 replays) matches the uncaptured step") {
  BASIN_SKIP_WITHOUT_CUDA();
  const Device d = Device::cuda(0);
  set_deterministic(true);
  for (const char* method : {"sam", "ncsam"}) {
    INFO(method);
    const bool ncsam = std::string(method) == "ncsam";
    Run captured_run(method, d), eager_run(method, d);
    optim::CapturedStep captured(*captured_run.opt,
                                 [&](const Tensor& x) { return captured_run.model->forward(x); });
    bool bit_identical = true;
    for (int64_t step = 0; step < kSteps; ++step) {
      INFO("step ", step);
      const Batch b = batch_for(step, d);
      const uint64_t reads_before = device_to_host_reads();
      captured.step(b.x, input_for(b, step));
      if (step >= 1) CHECK(device_to_host_reads() == reads_before);  // capture and replays read nothing
      eager_run.opt->step([&](optim::Pass) { return eager_run.model->forward(b.x); }, input_for(b, step));
      const auto want = buffers(eager_run, ncsam), got = buffers(captured_run, ncsam);
      for (size_t k = 0; k < want.size(); ++k) {
        INFO(want[k].first);
        const std::vector<double> a = host_values(want[k].second), c = host_values(got[k].second);
        CHECK(relative_l2(a, c) <= kTol);
        bit_identical = bit_identical && a == c;
      }
    }
    CHECK(captured.counts().warmups == 1);
    CHECK(captured.counts().captures == 1);
    CHECK(captured.counts().replays == kSteps - 1);
    CHECK(captured_run.opt->generator().offset() == eager_run.opt->generator().offset());
    const std::vector<optim::StepResult> want = eager_run.opt->sync(), got = captured_run.opt->sync();
    REQUIRE(want.size() == got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("result ", i);
      CHECK(std::abs(want[i].loss - got[i].loss) <= kTol * std::abs(want[i].loss));
      CHECK(want[i].lr == got[i].lr);
      CHECK(got[i].skipped == false);
      if (ncsam) CHECK(host_values(want[i].chosen) == host_values(got[i].chosen));
    }
    MESSAGE(method, " captured vs uncaptured over ", kSteps, " steps: ",
            bit_identical ? "bit-identical" : "within tolerance, not bit-identical");
  }
  set_deterministic(false);
}

TEST_CASE("cuda: a captured step refuses a batch of another shape, naming both") {
  BASIN_SKIP_WITHOUT_CUDA();
  const Device d = Device::cuda(0);
  Run run("sam", d);
  optim::CapturedStep captured(*run.opt, [&](const Tensor& x) { return run.model->forward(x); });
  for (int64_t step = 0; step < 2; ++step) {
    const Batch b = batch_for(step, d);
    captured.step(b.x, input_for(b, step));
  }
  Batch small = batch_for(5, d);
  small.x = small.x.narrow(0, 0, 8).contiguous();
  small.y = small.y.narrow(0, 0, 8).contiguous();
  CHECK_THROWS_WITH_AS(captured.step(small.x, input_for(small, 2)),
                       doctest::Contains("the captured graph was made for [16, 3, 32, 32]"), Error);
}
