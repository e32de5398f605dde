// `basin train --method ido` end to end on a tiny synthetic CIFAR-10: the
// label-wave log, the stage-2 start from the base model, the stage-2 loss of
// one batch recomputed here from a step dump (a fresh model with the dumped
// weights, the two dumped views, f64 loops, and per-sample weights from a
// mixture fitted here on the stage-1 checkpoint's counts), and a resume from
// inside stage 2 that continues bit for bit.
#include <doctest/doctest.h>


#include "apps/checkpoint.h"
#include "apps/trainer.h"
#include "apps_run_testing.h"
#include "apps_tiny_cifar.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "ido_reference.h"
#include "nn/models.h"
#include "nn/state_dict.h"
#include "optim/flat_params.h"
#include "optim/wrong_event_mixture.h"

using namespace basin;
using namespace basin::apps;

namespace {

constexpr int64_t kBatch = 16, kStepsPerEpoch = 5, kClasses = 10;

TrainConfig ido_run(const test::TinyCifar& data, const std::string& out) {
  TrainConfig c;
  c.model = "resnet20";
  c.width = 0.25;
  c.dataset = data.spec();
  c.normalization = "auto;mean=0.5;std=0.25";
  c.noise = "sym:0.4";
  c.epochs = 2;
  c.ido.enabled = true;
  c.ido.stage2_epochs = 2;
  c.batch_size = kBatch;
  c.optim.lr = 0.05;
  c.threads = 2;
  c.log_every = 1;
  c.quiet = true;
  c.out_dir = out;
  return c;
}

const Tensor& named(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  FAIL("no tensor '", name, "'");
  static Tensor none;
  return none;
}

std::vector<double> as_f64(const Tensor& t) { return t.to(DType::F64).contiguous().to_vector<double>(); }

}  // namespace

TEST_CASE("apps: the label-wave rule picks the first epoch whose changed count stops falling, as a copy") {
  auto model = nn::make_model("resnet20", 3, 1, 0.25, 4);
  IdoStage stage(IdoConfig{}, {0, 1, 2, 0, 1}, 3);
  // Predictions per epoch; changes: 5, 3, 1, 2 (stops falling at epoch 4), 0.
  const std::vector<std::vector<int64_t>> epochs = {
      {1, 1, 1, 1, 1}, {1, 0, 0, 0, 1}, {1, 0, 0, 0, 2}, {2, 2, 0, 0, 2}, {2, 2, 0, 0, 2}};
  const std::vector<int64_t> changes = {5, 3, 1, 2, 0};
  std::vector<uint8_t> weights_at_4;
  for (size_t e = 0; e < epochs.size(); ++e) {
    {
      NoGrad no_grad;  // the weights move every epoch
      for (auto& [name, slot] : model->named_parameters()) slot->copy_(add(*slot, 0.01 * static_cast<double>(e + 1)));
    }
    CHECK(stage.record_stage1_epoch(static_cast<int64_t>(e + 1), epochs[e], *model) == changes[e]);
    if (e + 1 == 4) weights_at_4 = test::bytes_of(model->named_parameters()[0].second->clone());
  }
  stage.finish_stage1(5, *model);
  CHECK(stage.base_epoch() == 4);
  CHECK(stage.changed_history() == changes);
  // The base is epoch 4's weights, not the live (epoch 5) ones.
  auto loaded = nn::make_model("resnet20", 3, 1, 0.25, 5);
  stage.load_base(*loaded);
  CHECK(test::bytes_of(*loaded->named_parameters()[0].second) == weights_at_4);
  CHECK(test::bytes_of(*model->named_parameters()[0].second) != weights_at_4);
  // Never stopping falling: the last epoch.
  IdoStage falling(IdoConfig{}, {0, 1}, 3);
  falling.record_stage1_epoch(1, {1, 0}, *model);
  falling.record_stage1_epoch(2, {0, 0}, *model);
  falling.finish_stage1(2, *model);
  CHECK(falling.base_epoch() == 2);
}

TEST_CASE("apps: IDO trains end to end; its log, its base model and one stage-2 loss recomputed") {
  test::TinyCifar data;
  const std::string out = data.dir.file("ido");
  // Stage 1 only (stop at the boundary): its counts decide the stage-2 weights.
  TrainConfig first = ido_run(data, out);
  first.stop_after = 2;
  CHECK(run_training(first).status == "interrupted");
  const Checkpoint boundary = load_checkpoint(out + "/checkpoint.safetensors");
  const std::vector<double> counts = as_f64(boundary.tensor("tracker.wrong_events"));
  const std::vector<int64_t> noisy = boundary.tensor("trainer.noisy_labels").to_vector<int64_t>();
  optim::WrongEventMixture mixture(kClasses, true);
  mixture.fit(counts, noisy, 20);
  const optim::DifficultyReadout expect = mixture.read_out(counts, noisy);

  // Stage 2, dumping its first step.
  TrainConfig second = ido_run(data, out);
  second.resume = out;
  second.dump_step = 2 * kStepsPerEpoch;
  const TrainSummary done = run_training(second);
  REQUIRE(done.status == "finished");
  CHECK(done.epochs_done == 4);

  // The log: changed predictions per stage-1 epoch, the chosen epoch, stage 2's refits.
  const auto epochs = test::log_lines(out + "/run.jsonl", "epoch");
  REQUIRE(epochs.size() == 4);
  CHECK(epochs[0].at("stage").as_int64() == 1);
  CHECK(epochs[0].at("changed_predictions").as_int64() == 80);  // every sample's first prediction
  CHECK(epochs[1].at("changed_predictions").as_int64() >= 0);
  const int64_t base = epochs[1].at("ido_base_epoch").as_int64();
  CHECK(base == 2);  // the rule needs two epochs of history; else the last epoch (2 here as well)
  const auto start = test::log_lines(out + "/run.jsonl", "ido_stage2");
  REQUIRE(start.size() == 1);
  CHECK(start[0].at("base_epoch").as_int64() == base);
  CHECK(start[0].at("mixture_fits").as_int64() == 1);
  CHECK(epochs[2].at("stage").as_int64() == 2);
  CHECK(epochs[2].at("mixture_fits").as_int64() == 2);
  CHECK(epochs[3].at("mixture_fits").as_int64() == 3);

  // The dump of the first stage-2 step: weights = the base model's.
  const safetensors::File dump = safetensors::load(out + "/step_10.safetensors");
  CHECK(dump.metadata.at("step_loss") == "ido");
  const Checkpoint final_ck = load_checkpoint(out + "/checkpoint.safetensors");
  NamedTensors base_state;
  for (const auto& [n, t] : final_ck.tensors)
    if (n.rfind("ido.base.", 0) == 0) base_state.emplace_back(n.substr(9), t);
  auto model = nn::make_model("resnet20", kClasses, 3, 0.25, 123);
  model->train();
  nn::load_state_dict(*model, base_state);
  optim::FlatParams flat = optim::bind(*model, Device::cpu());
  CHECK(test::bytes_of(flat.params()) == test::bytes_of(named(dump.tensors, "w_before")));

  // Per-sample weights of the batch = the mixture fitted here.
  const std::vector<int64_t> idx = named(dump.tensors, "indices").to_vector<int64_t>();
  const std::vector<double> pc = as_f64(named(dump.tensors, "ido.p_clean"));
  const std::vector<double> eps = as_f64(named(dump.tensors, "ido.epsilon"));
  REQUIRE(idx.size() == static_cast<size_t>(kBatch));
  for (size_t i = 0; i < idx.size(); ++i) {
    CAPTURE(i);
    const size_t s = static_cast<size_t>(idx[i]);
    CHECK(pc[i] == doctest::Approx(expect.p_clean[s]).epsilon(1e-6));
    CHECK(eps[i] == doctest::Approx(optim::ido_epsilon(expect.p_clean[s], expect.p_noisy[s], expect.cdf_clean[s],
                                                       expect.cdf_noisy[s])).epsilon(1e-6));
  }
  // The loss: each dumped view through the model on its own (train mode), then f64 loops.
  const Tensor inputs = named(dump.tensors, "inputs");
  REQUIRE(inputs.size(0) == 2 * kBatch);
  std::vector<double> zw, zs;
  {
    NoGrad no_grad;
    zw = as_f64(model->forward(inputs.narrow(0, 0, kBatch).contiguous()));
    zs = as_f64(model->forward(inputs.narrow(0, kBatch, kBatch).contiguous()));
  }
  const std::vector<double> logged_weak = as_f64(named(dump.tensors, "logits"));
  double worst = 0;
  for (size_t i = 0; i < zw.size(); ++i) worst = std::max(worst, std::abs(zw[i] - logged_weak[i]));
  CHECK(worst < 1e-4);
  const double recomputed =
      test::ido_loop_loss(zw, zs, named(dump.tensors, "labels").to_vector<int64_t>(), pc, eps, kBatch, kClasses);
  CHECK(std::stod(dump.metadata.at("loss")) == doctest::Approx(recomputed).epsilon(1e-5));
}

TEST_CASE("apps: an IDO run stopped inside stage 2 resumes there, bit for bit (CPU)") {
  test::TinyCifar data;
  TrainConfig straight = ido_run(data, data.dir.file("straight"));
  straight.epochs = 1;
  straight.log_every = 0;
  straight.optim.method = "sam";
  REQUIRE(run_training(straight).completed);
  TrainConfig split = straight;
  split.out_dir = data.dir.file("split");
  split.stop_after = 2;  // stage 1 and the first stage-2 epoch
  CHECK_FALSE(run_training(split).completed);
  split.stop_after = 0;
  split.resume = split.out_dir;
  REQUIRE(run_training(split).completed);
  const Checkpoint a = load_checkpoint(straight.out_dir + "/checkpoint.safetensors");
  const Checkpoint b = load_checkpoint(split.out_dir + "/checkpoint.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    CAPTURE(a.tensors[i].first);
    REQUIRE(a.tensors[i].first == b.tensors[i].first);
    CHECK(test::bytes_of(a.tensors[i].second) == test::bytes_of(b.tensors[i].second));
  }
}
