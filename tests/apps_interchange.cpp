// apps: weights and dumps that cross over to PyTorch. `basin eval` and
// `basin train --init` on a plain state_dict (no "model." prefix, no metadata;
// written here in C++, and by PyTorch in tests/reference/check.sh), eval's
// checks before any work and its output streams, errors that name the file
// once, and step dumps that hold everything a replay needs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/trainer.h"
#include "apps_run.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "apps_tiny_cifar.h"
#include "data_temp_dir.h"
#include "nn/models.h"
#include "nn/state_dict.h"

using namespace basin;
using namespace basin::apps;
using basin::test::run_captured;

namespace {

using basin::test::kMean;
using basin::test::kPixels;
using basin::test::kStd;
using basin::test::kTestImages;
using basin::test::TinyCifar;

// (p / 255 - mean) / std for images [first, first + n) of `pixels`, computed here.
Tensor normalised(const std::vector<uint8_t>& pixels, int64_t first, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n * kPixels));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((pixels[first * kPixels + i] / 255.0 - kMean) / kStd);
  return from_vector<float>(x, {n, 3, 32, 32});
}

// A ResNet-20 of width 0.25 whose BatchNorm buffers are not their initial values.
std::shared_ptr<nn::Module> trained_looking_model(uint64_t seed) {
  auto model = nn::make_model("resnet20", 10, 3, 0.25, seed);
  model->train();
  std::vector<float> noise(4 * kPixels);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.3f, 1.5f);
  for (float& v : noise) v = normal(rng);
  NoGrad no_grad;
  model->forward(from_vector<float>(noise, {4, 3, 32, 32}));
  return model;
}

std::vector<float> npy_values(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 10);
  const size_t start = 10 + (static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8));
  std::vector<float> out((bytes.size() - start) / 4);
  std::memcpy(out.data(), bytes.data() + start, out.size() * 4);
  return out;
}

std::vector<double> as_f64(const Tensor& t) { return t.to(DType::F64).contiguous().to_vector<double>(); }

TrainConfig tiny_run(const TinyCifar& data, const std::string& out) {
  TrainConfig c;
  c.model = "resnet20";
  c.width = 0.25;
  c.dataset = data.spec();
  c.normalization = "auto;mean=0.5;std=0.25";
  c.epochs = 1;
  c.batch_size = 16;
  c.threads = 2;
  c.log_every = 0;
  c.quiet = true;
  c.out_dir = out;
  return c;
}

}  // namespace

TEST_CASE("apps: eval takes a plain state_dict with --model/--width/--num-classes; table on stderr, one JSON line on stdout") {
  TinyCifar data;
  auto source = trained_looking_model(9);
  const std::string plain = data.dir.file("plain.safetensors");
  nn::save_module(*source, plain);  // PyTorch's names, no prefix, no metadata
  REQUIRE(safetensors::load(plain).metadata.empty());

  const std::string logits_path = data.dir.file("logits.npy");
  const std::vector<std::string> base = {"eval", "--checkpoint", plain, "--dataset", data.spec(), "--mean", "0.5",
                                         "--std", "0.25", "--threads", "2"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const auto ok = run_captured(eval_main, with({"--model", "resnet20", "--width", "0.25", "--num-classes", "10",
                                                "--dump-logits", logits_path}),
                               data.dir.file("ok"));
  REQUIRE_MESSAGE(ok.rc == 0, ok.error);
  // stdout: exactly one line, the JSON object; the table went to stderr.
  CHECK(ok.out.find('\n') == ok.out.size() - 1);
  CHECK(ok.out.rfind("{\"type\":\"eval\"", 0) == 0);
  CHECK(ok.out.find("\"weights\":\"plain\"") != std::string::npos);
  CHECK(ok.out.find("\"epoch\"") == std::string::npos);  // a plain file has no position
  CHECK(ok.err.find("accuracy") != std::string::npos);
  CHECK(ok.err.find("class   0") != std::string::npos);

  // The logits are the source model's on images normalised here.
  source->eval();
  NoGrad no_grad;
  const std::vector<float> want = source->forward(normalised(data.test_pixels, 0, kTestImages)).to_vector<float>();
  const std::vector<float> got = npy_values(logits_path);
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[i]));
  CHECK(worst < 1e-4);
  int correct = 0;  // and the JSON accuracy is what those logits say
  for (int i = 0; i < kTestImages; ++i) {
    int best = 0;
    for (int k = 1; k < 10; ++k)
      if (want[i * 10 + k] > want[i * 10 + best]) best = k;
    correct += best == data.test_labels[i];
  }
  CHECK(ok.out.find("\"correct\":" + std::to_string(correct) + ",") != std::string::npos);

  // Refusals name exactly what is missing or mismatched.
  CHECK(run_captured(eval_main, with({"--width", "0.25"}), data.dir.file("r1")).error ==
        "'" + plain + "' is a plain state_dict (no basin metadata naming its model): give --model and --num-classes");
  CHECK(run_captured(eval_main, with({}), data.dir.file("r2")).error ==
        "'" + plain + "' is a plain state_dict (no basin metadata naming its model): give --model, --width and --num-classes");
  const auto wide = run_captured(eval_main, with({"--model", "resnet20", "--width", "0.5", "--num-classes", "10"}),
                                 data.dir.file("r3"));
  CHECK(wide.error.rfind("plain state_dict '" + plain + "' does not fit a resnet20 of width 0.5 with 10 classes: ", 0) == 0);
  CHECK(wide.error.find("shape mismatch: 'conv1.weight' file [4, 3, 3, 3] vs model [8, 3, 3, 3]") != std::string::npos);
  CHECK(wide.out.empty());
  const auto no_dataset = run_captured(
      eval_main, {"eval", "--checkpoint", plain, "--model", "resnet20", "--width", "0.25", "--num-classes", "10"},
      data.dir.file("r4"));
  CHECK(no_dataset.error == "'" + plain + "' is a plain state_dict, which does not say what it was trained on: give --dataset");

  // An unwritable --dump-logits is refused before anything is evaluated.
  const auto unwritable = run_captured(eval_main, with({"--model", "resnet20", "--width", "0.25", "--num-classes", "10",
                                                        "--dump-logits", data.dir.file("no/such/dir/l.npy")}),
                                       data.dir.file("r5"));
  CHECK(unwritable.error.find("folder '" + data.dir.file("no/such/dir") + "' does not exist") != std::string::npos);
  CHECK(unwritable.out.empty());
  CHECK(unwritable.err.find("accuracy") == std::string::npos);
}

TEST_CASE("apps: eval checks a checkpoint's metadata first, and its errors name the file once") {
  TinyCifar data;
  auto model = trained_looking_model(4);
  std::map<std::string, std::string> meta = {{"model", "resnet20"},          {"width", "0.25"},
                                             {"num_classes", "10"},          {"in_channels", "3"},
                                             {"normalization.mean", "0.5,0.5,0.5"},
                                             {"normalization.std", "0.25,0.25,0.25"},
                                             {"train.dataset", data.spec()}};
  const std::string no_epoch = data.dir.file("no_epoch.safetensors");
  save_checkpoint(no_epoch, *model, {}, meta);
  const auto r = run_captured(eval_main, {"eval", "--checkpoint", no_epoch, "--threads", "2"}, data.dir.file("a"));
  CHECK(r.error == "checkpoint '" + no_epoch +
                       "': metadata key 'epoch' is missing (not a basin training checkpoint, or from an incompatible version)");
  CHECK(r.out.empty());  // nothing was evaluated
  CHECK(r.err.find("accuracy") == std::string::npos);

  // No model tensors: said once, not "checkpoint 'X': checkpoint 'X': ...".
  meta["epoch"] = "3";
  const std::string empty = data.dir.file("empty.safetensors");
  safetensors::save(empty, {{"optim.counters", from_vector<int64_t>({1, 0, 0, 0}, {4})}}, meta);
  CHECK(run_captured(eval_main, {"eval", "--checkpoint", empty}, data.dir.file("b")).error ==
        "checkpoint '" + empty + "': no model tensors (names starting with 'model.')");

  // A complete one evaluates; flags that disagree with its metadata are refused by name.
  const std::string full = data.dir.file("full.safetensors");
  save_checkpoint(full, *model, {}, meta);
  const auto good = run_captured(eval_main, {"eval", "--checkpoint", full, "--threads", "2"}, data.dir.file("c"));
  REQUIRE_MESSAGE(good.rc == 0, good.error);
  CHECK(good.out.find("\"weights\":\"checkpoint\"") != std::string::npos);
  CHECK(good.out.find("\"epoch\":3") != std::string::npos);
  CHECK(run_captured(eval_main, {"eval", "--checkpoint", full, "--model", "resnet32"}, data.dir.file("d")).error ==
        "checkpoint '" + full + "' holds a resnet20, but --model says resnet32");
  // Damaged model tensors: the file named once, then every problem.
  NamedTensors state = nn::state_dict(*model);
  for (auto& [n, t] : state) n = kModelPrefix + n;
  state[0].second = state[0].second.narrow(0, 0, 2).contiguous();
  const std::string damaged = data.dir.file("damaged.safetensors");
  safetensors::save(damaged, state, meta);
  const std::string error = run_captured(eval_main, {"eval", "--checkpoint", damaged}, data.dir.file("e")).error;
  CHECK(error.rfind("checkpoint '" + damaged + "': load_state_dict into ", 0) == 0);
  CHECK(error.find("shape mismatch: 'conv1.weight' file [2, 3, 3, 3] vs model [4, 3, 3, 3]") != std::string::npos);
  CHECK(error.find("checkpoint '", 1) == std::string::npos);
}

TEST_CASE("apps: train --init starts from a plain state_dict or a checkpoint, and refuses one that does not fit") {
  TinyCifar data;
  auto source = trained_looking_model(17);
  const std::string plain = data.dir.file("init.safetensors");
  nn::save_module(*source, plain);
  TrainConfig c = tiny_run(data, data.dir.file("run"));
  c.init = plain;
  c.optim.lr = 1e-9;  // the weights barely move: the checkpoint shows where they started
  run_training(c);
  const Checkpoint ck = load_checkpoint(data.dir.file("run/checkpoint.safetensors"));
  double worst = 0, scale = 0;
  for (const auto& [name, t] : nn::state_dict(*source)) {
    if (name.find("running") != std::string::npos || name.find("num_batches") != std::string::npos) continue;
    const std::vector<double> want = as_f64(t), got = as_f64(ck.tensor(kModelPrefix + name));
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]));
      scale = std::max(scale, std::abs(want[i]));
    }
  }
  CHECK(scale > 0.1);
  CHECK(worst < 1e-6);

  TrainConfig wide = tiny_run(data, data.dir.file("wide"));
  wide.width = 0.5;
  wide.init = plain;
  const std::string error = basin::test::error_message([&] { run_training(wide); });
  CHECK(error.rfind("plain state_dict '" + plain + "' does not fit a resnet20 of width 0.5 with 10 classes", 0) == 0);
  CHECK(error.find("shape mismatch: 'linear.weight' file [10, 16] vs model [10, 32]") != std::string::npos);

  TrainConfig other = tiny_run(data, data.dir.file("other"));
  other.model = "resnet32";
  other.init = data.dir.file("run");
  CHECK(basin::test::error_message([&] { run_training(other); }) ==
        "checkpoint '" + data.dir.file("run/checkpoint.safetensors") + "' holds a resnet20, but --model says resnet32");
}

TEST_CASE("apps: a step dump holds the batch as fed, the momentum before the step and exact scalars") {
  TinyCifar data;
  TrainConfig c = tiny_run(data, data.dir.file("run"));
  c.augment = false;  // so the batch can be recomputed here from the images
  c.optim.method = "sam";
  c.dump_step = 2;
  run_training(c);
  const safetensors::File dump = safetensors::load(data.dir.file("run/step_2.safetensors"));
  auto tensor = [&](const std::string& name) {
    for (const auto& [n, t] : dump.tensors)
      if (n == name) return t;
    FAIL("the dump lacks '", name, "'");
    return Tensor();
  };
  const auto& meta = dump.metadata;
  CHECK(meta.at("model") == "resnet20");
  CHECK(meta.at("width") == "0.25");
  CHECK(meta.at("num_classes") == "10");
  CHECK(meta.at("in_channels") == "3");

  // The batch: the normalised images at the dumped indices.
  const Tensor inputs = tensor("inputs");
  REQUIRE(inputs.shape() == Shape{16, 3, 32, 32});
  const std::vector<int64_t> indices = tensor("indices").to_vector<int64_t>();
  const std::vector<float> x = inputs.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t row = 0; row < indices.size(); ++row) {
    const std::vector<float> want = normalised(data.train_pixels, indices[row], 1).to_vector<float>();
    for (int p = 0; p < kPixels; ++p) worst = std::max(worst, std::abs(double(x[row * kPixels + p]) - want[p]));
  }
  CHECK(worst < 1e-6);

  // Scalars read back to the same double (%.17g), not 6 digits.
  char* end = nullptr;
  const double lr = std::strtod(meta.at("lr").c_str(), &end);
  CHECK(*end == '\0');
  CHECK(meta.at("lr").size() > 12);  // a cosine value mid-schedule is not a short decimal
  CHECK(join_doubles({lr}) == meta.at("lr"));
  const double rho = std::atof(meta.at("rho").c_str()), mu = std::atof(meta.at("momentum").c_str());
  const double wd = std::atof(meta.at("weight_decay").c_str());

  // SAM's step recomputed in f64 from the dump alone: e = rho g/|g|, then
  // m = mu m_before + g2 + wd w_before, w_after = w_before - lr m.
  const std::vector<double> w0 = as_f64(tensor("w_before")), w1 = as_f64(tensor("w_after"));
  const std::vector<double> m0 = as_f64(tensor("momentum_before")), m1 = as_f64(tensor("momentum_after"));
  const std::vector<double> g = as_f64(tensor("g")), g2 = as_f64(tensor("g2")), e = as_f64(tensor("e"));
  double g_norm = 0, m0_norm = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    g_norm += g[i] * g[i];
    m0_norm += m0[i] * m0[i];
  }
  g_norm = std::sqrt(g_norm);
  CHECK(m0_norm > 0);  // two steps were taken before
  double e_err = 0, m_err = 0, w_err = 0, step_scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    e_err = std::max(e_err, std::abs(e[i] - rho * g[i] / g_norm));
    const double m = mu * m0[i] + g2[i] + wd * w0[i];
    m_err = std::max(m_err, std::abs(m1[i] - m));
    w_err = std::max(w_err, std::abs(w1[i] - (w0[i] - lr * m)));
    step_scale = std::max(step_scale, std::abs(lr * m));
  }
  CHECK(e_err < 1e-6 * rho);
  CHECK(m_err < 1e-4);
  CHECK(w_err < 1e-3 * step_scale + 2e-7);  // f32 rounding of w itself
}
