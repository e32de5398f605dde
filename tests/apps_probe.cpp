// apps: `basin probe` on two tiny Fashion-MNIST runs (skipped, with a message,
// where Debian's dataset-fashion-mnist is not installed): the JSON holds every
// measure, its numbers agree with each other where they must (the surfaces
// and the line pass through L(w), the line ends at the second checkpoint's
// loss), and bad input is refused with a message naming the flag or file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/report.h"
#include "apps/trainer.h"
#include "apps_run_testing.h"
#include "core/error.h"
#include "core/json.h"
#include "data/idx.h"
#include "nn/models.h"

using namespace basin;
using namespace basin::apps;
namespace fs = std::filesystem;

namespace {

bool have_fashion_mnist() {
  return fs::exists(std::string(data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz") &&
         fs::exists(std::string(data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz");
}

// Two one-epoch runs of a quarter-width ResNet-20 on 128 images (built once).
struct Runs {
  std::string dir, a, b;
};

const Runs& tiny_runs() {
  static Runs runs = [] {
    Runs r;
    r.dir = (fs::temp_directory_path() / ("basin_apps_probe_" + std::to_string(::getpid()))).string();
    fs::remove_all(r.dir);
    for (int k = 0; k < 2; ++k) {
      TrainConfig c = test::tiny_config(r.dir + (k ? "/b" : "/a"));
      c.optim = TrainConfig{}.optim;  // plain SGD with the default recipe
      c.log_every = TrainConfig{}.log_every;
      c.train_limit = 128;
      c.test_limit = 32;
      c.epochs = 1;
      c.batch_size = 32;
      c.seed = 3 + k;
      run_training(c);
    }
    r.a = r.dir + "/a";
    r.b = r.dir + "/b";
    return r;
  }();
  return runs;
}

int probe(std::vector<std::string> args) {
  args.insert(args.begin(), "probe");
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  return probe_main(static_cast<int>(argv.size()), argv.data());
}

std::string probe_error(const std::vector<std::string>& args) {
  try {
    probe(args);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("apps: basin probe measures a checkpoint; surfaces and the line pass through L(w)") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir);
    return;
  }
  const Runs& runs = tiny_runs();
  const std::string out = runs.dir + "/probe.json", out_b = runs.dir + "/probe_b.json";
  const std::vector<std::string> common = {"--samples", "16", "--batch-size", "8", "--seed", "7", "--quiet",
                                           "--threads", "2"};
  std::vector<std::string> args = {runs.a, "--out", out, "--eigenvalues", "2", "--power-iterations", "1",
                                   "--trace-vectors", "2", "--sam-steps", "2", "--points-1d", "3", "--points-2d",
                                   "2", "--span", "0.5", "--to", runs.b, "--line-points", "3", "--line-range", "0,1"};
  args.insert(args.end(), common.begin(), common.end());
  REQUIRE(probe(args) == 0);
  const json::Value r = json::parse_file(out);
  CHECK(r.at("samples").as_int64() == 16);
  CHECK(r.at("labels").as_string() == "noisy");
  CHECK(r.at("bn").as_string() == "eval");
  const double loss = r.at("loss").as_double();
  CHECK(loss > 0);
  CHECK(r.at("eigenvalues").at("values").size() == 2);
  CHECK(std::isfinite(r.at("eigenvalues").at("values").at(1).as_double()));  // deflation ran
  CHECK(r.at("trace").at("samples").size() == 2);
  CHECK(r.at("sharpness").at("loss").as_double() == doctest::Approx(loss).epsilon(1e-6));
  CHECK(r.at("sharpness").at("value").as_double() > 0);
  const std::vector<double> one_d = r.at("surface_1d").at("loss").as_double_array();
  REQUIRE(one_d.size() == 3);
  CHECK(one_d[1] == doctest::Approx(loss).epsilon(1e-6));  // a = 0
  CHECK(r.at("surface_2d").at("loss").size() == 4);
  const std::vector<double> line = r.at("line").at("loss").as_double_array();
  REQUIRE(line.size() == 3);
  CHECK(line[0] == doctest::Approx(loss).epsilon(1e-6));
  for (const char* id : {"line", "surface-1d", "surface-2d"}) {  // the figures beside the JSON
    CAPTURE(id);
    std::ifstream svg(figure_file(out, id));
    const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    CHECK(text.find("<svg") != std::string::npos);
  }

  // The line's end is the second checkpoint, running statistics included.
  std::vector<std::string> only_loss = {runs.b, "--out", out_b, "--eigenvalues", "0", "--trace-vectors", "0",
                                        "--sam-steps", "0", "--points-1d", "0"};
  only_loss.insert(only_loss.end(), common.begin(), common.end());
  REQUIRE(probe(only_loss) == 0);
  const json::Value rb = json::parse_file(out_b);
  CHECK(line[2] == doctest::Approx(rb.at("loss").as_double()).epsilon(1e-5));
  CHECK(rb.find("eigenvalues") == nullptr);
  CHECK(rb.find("surface_1d") == nullptr);
}

TEST_CASE("apps: basin probe refuses bad input with a message naming the flag or file") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir);
    return;
  }
  const Runs& runs = tiny_runs();
  const std::string out = runs.dir + "/bad.json";
  auto error_with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {runs.a, "--out", out, "--quiet", "--samples", "16"};
    args.insert(args.end(), extra.begin(), extra.end());
    return probe_error(args);
  };
  CHECK(error_with({"--split", "val"}).find("flag --split: expected train or test") != std::string::npos);
  CHECK(error_with({"--split", "test", "--labels", "noisy"}).find("only the training split has noisy") !=
        std::string::npos);
  CHECK(error_with({"--rho", "0"}).find("flag --rho: must be > 0") != std::string::npos);
  CHECK(error_with({"--rho", "-0.1"}).find("flag --rho: must be > 0") != std::string::npos);
  CHECK(error_with({"--points-2d", "1"}).find("flag --points-2d: must be 0 (skip) or >= 2") != std::string::npos);
  CHECK(error_with({"--line-points", "0", "--to", runs.b}).find("flag --line-points") != std::string::npos);
  CHECK(error_with({"--samples", "100000"}).find("flag --samples") != std::string::npos);
  CHECK(error_with({"--bn", "frozen"}).find("BatchNorm mode") != std::string::npos);
  CHECK(probe_error({"--out", out}).find("no checkpoint given") != std::string::npos);
  CHECK(!fs::exists(out));  // nothing half-written

  // A checkpoint whose weights belong to another model, and a --to of another architecture.
  const Checkpoint ck = load_checkpoint(runs.a + "/checkpoint.safetensors");
  auto wider = nn::make_model("resnet20", 10, 1, 0.5, uint64_t{1});
  const std::string wrong = runs.dir + "/wrong.safetensors", other = runs.dir + "/other.safetensors";
  save_checkpoint(wrong, *wider, ck.other_tensors(), ck.metadata);
  std::map<std::string, std::string> meta = ck.metadata;
  meta["width"] = "0.5";
  save_checkpoint(other, *wider, ck.other_tensors(), meta);
  CHECK(probe_error({wrong, "--out", out, "--quiet"}).find(wrong) != std::string::npos);
  const std::string msg = error_with({"--to", other});
  CHECK(msg.find("flag --to: not the same model: width") != std::string::npos);
  CHECK(!fs::exists(out));
}
