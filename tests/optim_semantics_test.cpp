// Step semantics users rely on: BatchNorm statistics change in pass 1 only,
// non-finite steps are skipped (and abort after a run of them), a zero
// gradient never becomes NaN, warm-up runs plain SGD, and a step dump holds
// the step's buffers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "core/autograd.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "optim/factory.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

namespace {

OptimConfig config_for(const std::string& method) {
  OptimConfig c;
  c.method = method;
  c.lr = 0.1;
  c.weight_decay = 1e-3;
  c.schedule = "constant";
  c.epochs = 4;
  c.steps_per_epoch = 2;
  c.warmup_epochs = 0;
  c.rho = 0.1;
  return c;
}

struct Batch {
  Tensor x, y, idx;
};

Batch make_batch(uint64_t seed) {
  Generator gen(seed);
  Batch b{random_images(kBatch, gen), random_labels(kBatch, gen), arange(kBatch)};
  return b;
}

StepInput input_for(const Batch& b, int64_t step = 0, int64_t epoch = 0) {
  StepInput in;
  in.labels = b.y;
  in.indices = b.idx;
  in.step = step;
  in.epoch = epoch;
  in.progress = 0.6;
  return in;
}

nn::BatchNorm2d& bn_of(nn::Sequential& model) { return dynamic_cast<nn::BatchNorm2d&>(model[1]); }

}  // namespace

TEST_CASE("optim: a SAM-family step leaves exactly the running statistics of an SGD step") {
  const Batch b = make_batch(21);
  for (const std::string method : {"sam", "asam", "ncsam"}) {
    CAPTURE(method);
    auto sgd_model = make_tiny_model(9);
    auto sam_model = make_tiny_model(9);
    FlatParams sgd_flat = bind(*sgd_model, Device::cpu());
    FlatParams sam_flat = bind(*sam_model, Device::cpu());
    auto sgd = make_optimizer(config_for("sgd"), sgd_flat);
    auto sam = make_optimizer(config_for(method), sam_flat);
    int sgd_calls = 0, sam_calls = 0;
    sgd->step([&](Pass) { ++sgd_calls; return sgd_model->forward(b.x); }, input_for(b));
    const StepResult r = sam->step([&](Pass) { ++sam_calls; return sam_model->forward(b.x); }, input_for(b));
    CHECK(r.perturbed);
    CHECK(sgd_calls == 1);
    CHECK(sam_calls == 2);
    CHECK(bn_of(*sam_model).running_mean_values() == bn_of(*sgd_model).running_mean_values());
    CHECK(bn_of(*sam_model).running_var_values() == bn_of(*sgd_model).running_var_values());
    CHECK(bn_of(*sam_model).batches_tracked() == 1);
    CHECK(bn_of(*sgd_model).batches_tracked() == 1);
    // and the statistics did move (the check can fail)
    CHECK(bn_of(*sam_model).running_mean_values() != std::vector<double>(3, 0.0));
  }
}

TEST_CASE("optim: the second pass runs inside FreezeBatchNormStats, on the same batch") {
  const Batch b = make_batch(22);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  auto opt = make_optimizer(config_for("sam"), flat);
  std::vector<bool> frozen;
  std::vector<Pass> passes;
  opt->step([&](Pass p) {
    passes.push_back(p);
    frozen.push_back(nn::FreezeBatchNormStats::active());
    return model->forward(b.x);
  }, input_for(b));
  CHECK(passes == std::vector<Pass>{Pass::Ascent, Pass::Descent});
  CHECK(frozen == std::vector<bool>{false, true});
  CHECK_FALSE(nn::FreezeBatchNormStats::active());
}

TEST_CASE("optim: a non-finite pass-1 loss skips the step and leaves weights and momentum untouched") {
  const Batch b = make_batch(23);
  for (const std::string method : {"sgd", "sam", "ncsam"}) {
    CAPTURE(method);
    auto model = make_tiny_model(9);
    FlatParams flat = bind(*model, Device::cpu());
    OptimConfig c = config_for(method);
    c.max_consecutive_skips = 3;
    auto opt = make_optimizer(c, flat);
    opt->step([&](Pass) { return model->forward(b.x); }, input_for(b, 0));  // one good step
    const Vec w = to_vec(flat.params());
    const Vec m = to_vec(opt->momentum());
    auto poisoned = [&](Pass) { return mul(model->forward(b.x), NAN); };
    StepResult r = opt->step(poisoned, input_for(b, 1));
    CHECK(r.skipped);
    CHECK(r.skip_reason.find("non-finite loss") != std::string::npos);
    CHECK(r.skip_reason.find("pass 1") != std::string::npos);
    CHECK(r.consecutive_skips == 1);
    CHECK(to_vec(flat.params()) == w);
    CHECK(to_vec(opt->momentum()) == m);
    r = opt->step(poisoned, input_for(b, 2));
    CHECK(r.consecutive_skips == 2);
    // a good step resets the run
    r = opt->step([&](Pass) { return model->forward(b.x); }, input_for(b, 3));
    CHECK_FALSE(r.skipped);
    CHECK(r.consecutive_skips == 0);
    CHECK(r.total_skips == 2);
    CHECK(opt->steps_taken() == 2);
    opt->step(poisoned, input_for(b, 4));
    opt->step(poisoned, input_for(b, 5));
    CHECK_THROWS_WITH_AS(opt->step(poisoned, input_for(b, 6)),
                         doctest::Contains("step 6"), Error);
  }
}

TEST_CASE("optim: a non-finite pass-2 loss restores w and skips the whole SAM step") {
  const Batch b = make_batch(24);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  auto opt = make_optimizer(config_for("sam"), flat);
  opt->step([&](Pass) { return model->forward(b.x); }, input_for(b, 0));
  const Vec w = to_vec(flat.params());
  const Vec m = to_vec(opt->momentum());
  const StepResult r = opt->step([&](Pass p) {
    Tensor z = model->forward(b.x);
    return p == Pass::Descent ? mul(z, INFINITY) : z;
  }, input_for(b, 1));
  CHECK(r.skipped);
  CHECK(r.skip_reason.find("pass 2") != std::string::npos);
  CHECK(max_abs_diff(to_vec(flat.params()), w) < 1e-15);  // w + e - e
  CHECK(to_vec(opt->momentum()) == m);
}

TEST_CASE("optim: a zero gradient gives e = 0, not NaN") {
  const Batch b = make_batch(25);
  for (const std::string method : {"sam", "asam", "ncsam"}) {
    CAPTURE(method);
    auto model = make_tiny_model(9);
    FlatParams flat = bind(*model, Device::cpu());
    OptimConfig c = config_for(method);
    c.weight_decay = 0;
    auto opt = make_optimizer(c, flat);
    const Vec w = to_vec(flat.params());
    const StepResult r = opt->step([&](Pass) { return mul(model->forward(b.x), 0.0); }, input_for(b));
    CHECK_FALSE(r.skipped);
    CHECK(r.grad_norm == 0.0);
    CHECK(r.perturb_norm == 0.0);
    CHECK(to_vec(opt->perturbation()) == Vec(w.size(), 0.0));
    CHECK(to_vec(flat.params()) == w);
  }
}

TEST_CASE("optim: NCSAM and CA-SAM run plain SGD during warm-up") {
  const Batch b = make_batch(26);
  for (const std::string method : {"ncsam", "casam"}) {
    CAPTURE(method);
    auto model = make_tiny_model(9);
    auto sgd_model = make_tiny_model(9);
    FlatParams flat = bind(*model, Device::cpu());
    FlatParams sgd_flat = bind(*sgd_model, Device::cpu());
    OptimConfig c = config_for(method);
    c.warmup_epochs = -1;  // epochs / 4 = 1
    CHECK(resolved_warmup_epochs(c) == 1.0);
    SampleTracker tracker(kBatch, Device::cpu());
    auto opt = make_optimizer(c, flat, &tracker);
    auto sgd = make_optimizer(config_for("sgd"), sgd_flat);
    int calls = 0;
    const StepResult r = opt->step([&](Pass) { ++calls; return model->forward(b.x); }, input_for(b, 0, 0));
    sgd->step([&](Pass) { return sgd_model->forward(b.x); }, input_for(b, 0, 0));
    CHECK_FALSE(r.perturbed);
    CHECK(calls == 1);
    CHECK(to_vec(flat.params()) == to_vec(sgd_flat.params()));
    const StepResult r2 = opt->step([&](Pass) { ++calls; return model->forward(b.x); }, input_for(b, 1, 1));
    CHECK(r2.perturbed);
    CHECK(calls == 3);
  }
}

TEST_CASE("optim: dump_step writes w before/after, e, g, g2 and NCSAM's choices") {
  const Batch b = make_batch(27);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  OptimConfig c = config_for("ncsam");
  c.r_flip = 0.25;
  auto opt = make_optimizer(c, flat);
  const Vec w_before = to_vec(flat.params());
  StepInput in = input_for(b);
  in.dump_path = "optim_dump_test.safetensors";
  const StepResult r = opt->step([&](Pass) { return model->forward(b.x); }, in);
  const safetensors::File file = safetensors::load(in.dump_path);
  std::remove(in.dump_path.c_str());
  auto get = [&](const std::string& name) -> Tensor {
    for (const auto& [n, t] : file.tensors)
      if (n == name) return t;
    FAIL("missing " << name);
    return Tensor();
  };
  CHECK(to_vec(get("w_before")) == w_before);
  CHECK(to_vec(get("w_after")) == to_vec(flat.params()));
  CHECK(to_vec(get("e")) == to_vec(opt->perturbation()));
  CHECK(to_vec(get("g")) == to_vec(opt->grad_at_w()));
  CHECK(to_vec(get("g2")) == to_vec(opt->grad_at_perturbed()));
  CHECK(to_vec(get("ncsam.g_star")) == to_vec(opt->aux_grad()));
  CHECK(get("ncsam.chosen").to_vector<int64_t>() == r.chosen.to_vector<int64_t>());
  CHECK(get("ncsam.temporary_labels").to_vector<int64_t>() == r.temporary_labels.to_vector<int64_t>());
  CHECK(get("labels").to_vector<int64_t>() == b.y.to_vector<int64_t>());
  CHECK(get("ncsam.chosen").numel() == 2);
  CHECK(file.metadata.at("method") == "ncsam");
  CHECK(file.metadata.at("segments").find("4.weight") != std::string::npos);
}

TEST_CASE("optim: step checks its inputs and names what is wrong") {
  const Batch b = make_batch(28);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  auto opt = make_optimizer(config_for("sam"), flat);
  StepInput in = input_for(b);
  in.labels = from_vector<int64_t>({0, 1}, {2});
  in.indices = Tensor();
  CHECK_THROWS_WITH_AS(opt->step([&](Pass) { return model->forward(b.x); }, in),
                       doctest::Contains("add up to the batch"), Error);
  in = input_for(b);
  CHECK_THROWS_WITH_AS(opt->step([&](Pass) { return model->forward(b.x).detach(); }, in),
                       doctest::Contains("require grad"), Error);
  OptimConfig bad = config_for("casam");
  CHECK_THROWS_WITH_AS(make_optimizer(bad, flat, nullptr), doctest::Contains("SampleTracker"), Error);
  bad = config_for("lion");
  CHECK_THROWS_WITH_AS(make_optimizer(bad, flat), doctest::Contains("unknown method"), Error);
}

TEST_CASE("optim: per-segment statistics are the norms of each layer's slice") {
  const Batch b = make_batch(29);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  auto opt = make_optimizer(config_for("sam"), flat);
  opt->step([&](Pass) { return model->forward(b.x); }, input_for(b));
  const std::vector<SegmentStats> stats = opt->segment_statistics();
  REQUIRE(stats.size() == flat.segments().size());
  const Vec e = to_vec(opt->perturbation());
  const Vec g2 = to_vec(opt->grad_at_perturbed());
  double total_e = 0;
  for (size_t i = 0; i < stats.size(); ++i) {
    const Segment& s = flat.segments()[i];
    CHECK(stats[i].name == s.name);
    double se = 0, sg2 = 0;
    for (int64_t k = s.offset; k < s.offset + s.numel; ++k) {
      se += e[k] * e[k];
      sg2 += g2[k] * g2[k];
    }
    CHECK(stats[i].perturb_norm == doctest::Approx(std::sqrt(se)).epsilon(1e-13));
    CHECK(stats[i].descent_grad_norm == doctest::Approx(std::sqrt(sg2)).epsilon(1e-13));
    CHECK(stats[i].weight_norm > 0);
    CHECK(stats[i].momentum_norm > 0);
    total_e += se;
  }
  CHECK(std::sqrt(total_e) == doctest::Approx(0.1));  // |e| = rho
}

// Non-finite injection (docs/reliability.md): a NaN pixel in the batch gives a
// non-finite loss; sqrt(0 * sum(w)) added to the logits keeps the loss finite
// but makes d/dw = 0 * inf = NaN, a non-finite gradient. Each is skipped and
// counted with w untouched; max_consecutive_skips in a row abort, naming the step.
TEST_CASE("optim: a NaN batch or a NaN gradient is skipped and counted; K in a row abort naming the step") {
  const Batch b = make_batch(26);
  for (const std::string method : {"sgd", "sam", "ncsam"}) {
    CAPTURE(method);
    auto model = make_tiny_model(9);
    FlatParams flat = bind(*model, Device::cpu());
    OptimConfig c = config_for(method);
    c.max_consecutive_skips = 2;
    auto opt = make_optimizer(c, flat);
    Tensor poisoned_x = b.x.clone();
    poisoned_x.data<double>()[5] = NAN;
    auto nan_batch = [&](Pass) { return model->forward(poisoned_x); };
    auto nan_gradient = [&](Pass) {
      const Tensor w = *model->parameters()[0];
      return add(model->forward(b.x), sqrt(mul(sum(w), 0.0)));
    };
    const Vec w0 = to_vec(flat.params());
    StepResult r = opt->step(nan_batch, input_for(b, 0));
    CHECK(r.skipped);
    CHECK(r.skip_reason.find("non-finite loss") != std::string::npos);
    CHECK(r.total_skips == 1);
    r = opt->step([&](Pass) { return model->forward(b.x); }, input_for(b, 1));  // a good step resets the run
    CHECK_FALSE(r.skipped);
    const Vec w1 = to_vec(flat.params());
    CHECK(w1 != w0);
    r = opt->step(nan_gradient, input_for(b, 2));
    CHECK(r.skipped);
    CHECK(r.skip_reason.find("non-finite gradient norm") != std::string::npos);
    CHECK(r.consecutive_skips == 1);
    CHECK(r.total_skips == 2);
    CHECK(to_vec(flat.params()) == w1);
    CHECK_THROWS_WITH_AS(opt->step(nan_batch, input_for(b, 3)),
                         doctest::Contains("step 3 (epoch 0) skipped: non-finite loss"), Error);
    CHECK(to_vec(flat.params()) == w1);
  }
}

namespace {

// The logits unchanged, with a backward that turns to NaN when some row's
// upstream gradient is exactly zero. Pass 1's g and pass 2's g2 give every row
// a non-zero upstream (softmax minus one-hot); NCSAM's g* gives zero to the rows
// it did not choose. So only g* becomes non-finite, as if a NaN had been
// injected into it.
Tensor nan_on_a_zero_row(const Tensor& logits) {
  Tensor out = logits.detach().clone();
  return record("nan_on_a_zero_row", out, {logits}, [](const Tensor& up) {
    Tensor g = up.contiguous().clone();
    double* v = g.data<double>();
    const int64_t rows = g.size(0), cols = g.size(1);
    bool zero_row = false;
    for (int64_t i = 0; i < rows; ++i) {
      bool all_zero = true;
      for (int64_t k = 0; k < cols; ++k) all_zero = all_zero && v[i * cols + k] == 0.0;
      zero_row = zero_row || all_zero;
    }
    if (zero_row) v[0] = NAN;
    return std::vector<Tensor>{g};
  });
}

}  // namespace

TEST_CASE("optim: a non-finite g* skips the NCSAM step before w moves; K in a row abort naming the step") {
  const Batch b = make_batch(31);
  auto model = make_tiny_model(9);
  FlatParams flat = bind(*model, Device::cpu());
  OptimConfig c = config_for("ncsam");
  c.r_flip = 0.25;  // 2 of the 8 rows chosen: 6 zero rows in g*'s upstream
  c.max_consecutive_skips = 2;
  auto opt = make_optimizer(c, flat);
  auto poisoned = [&](Pass) { return nan_on_a_zero_row(model->forward(b.x)); };
  auto plain = [&](Pass) { return model->forward(b.x); };

  // A good step first, so that the momentum buffer is non-zero and can be compared.
  StepResult r = opt->step(plain, input_for(b, 0));
  REQUIRE_FALSE(r.skipped);
  const Vec w1 = to_vec(flat.params()), m1 = to_vec(opt->momentum());
  r = opt->step(poisoned, input_for(b, 1));
  CHECK(r.skipped);
  CHECK_MESSAGE(r.skip_reason.find("non-finite compensation gradient norm |g*|") != std::string::npos, r.skip_reason);
  CHECK(std::isfinite(r.grad_norm));  // g itself was finite: only g* was poisoned
  CHECK_FALSE(r.perturbed);
  CHECK(r.total_skips == 1);
  CHECK(to_vec(flat.params()) == w1);         // w never saw w + e
  CHECK(to_vec(opt->momentum()) == m1);       // and the momentum is untouched
  r = opt->step(plain, input_for(b, 2));      // the run goes on from the same w
  CHECK_FALSE(r.skipped);
  CHECK(r.consecutive_skips == 0);
  const Vec w2 = to_vec(flat.params());
  for (double x : w2) REQUIRE(std::isfinite(x));
  CHECK(opt->step(poisoned, input_for(b, 3)).skipped);
  CHECK_THROWS_WITH_AS(opt->step(poisoned, input_for(b, 4)),
                       doctest::Contains("step 4 (epoch 0) skipped: non-finite compensation gradient norm"), Error);
  CHECK(to_vec(flat.params()) == w2);
}
