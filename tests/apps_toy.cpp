// apps: the label-noise toy's defining property on a small deterministic
// version (m = 100 units, d = 10, lr 1e-2 so that lr * m * s^2 matches the
// full toy's 1e-3 * 1000): the weight norm makes half its way down while the
// units' share of weight along the true map has not moved, and only then does
// that share rise (for SGD and for SAM); the run is a pure function of its seed.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "apps/commands.h"
#include "apps/report.h"
#include "apps/toy.h"
#include "core/json.h"
#include "core/error.h"

using namespace basin;
using namespace basin::apps;

namespace {

LabelNoiseToyConfig small_toy(const std::string& optimizer, uint64_t seed) {
  LabelNoiseToyConfig c;
  c.optimizer = optimizer;
  c.width = 100;
  c.dim = 10;
  c.samples = 50;
  c.lr = 1e-2;
  c.steps = 3000;
  c.log_every = 100;
  c.seed = seed;
  return c;
}

}  // namespace

TEST_CASE("toy label-noise: norms shrink first, then the units align with the true map (SGD and SAM)") {
  for (const char* optimizer : {"sgd", "sam"})
    for (uint64_t seed : {0, 1}) {
      CAPTURE(optimizer);
      CAPTURE(seed);
      const LabelNoiseToyResult r = run_label_noise_toy(small_toy(optimizer, seed));
      REQUIRE(r.points.size() == 31);
      const LabelNoiseToyPoint &first = r.points.front(), &last = r.points.back();
      CHECK(last.weight_norm < 0.4 * first.weight_norm);  // phase I happened
      CHECK(last.neuron_norm < 0.4 * first.neuron_norm);
      CHECK(first.neuron_alignment < 0.15);  // random units: about 1/d of their weight along beta
      CHECK(last.neuron_alignment > 2.5 * first.neuron_alignment);  // phase II happened
      double late = 0;  // and W^T a points at the true map
      for (size_t i = r.points.size() - 5; i < r.points.size(); ++i) late += r.points[i].alignment / 5;
      CHECK(late > 0.6);
      // The order: half of phase I is done while the units have not turned yet.
      REQUIRE(r.norm_half_step > 0);
      REQUIRE(r.neuron_alignment_half_step > 0);
      CHECK(r.norm_half_step < r.neuron_alignment_half_step);
      const LabelNoiseToyPoint& at_half = r.points[static_cast<size_t>(r.norm_half_step / 100)];
      REQUIRE(at_half.step == r.norm_half_step);
      CHECK(at_half.neuron_alignment < 1.2 * first.neuron_alignment);
    }
}

TEST_CASE("toy label-noise: a run is a pure function of its seed; bad settings are refused") {
  LabelNoiseToyConfig c = small_toy("sam", 4);
  c.steps = 200;
  const LabelNoiseToyResult a = run_label_noise_toy(c), b = run_label_noise_toy(c);
  REQUIRE(a.points.size() == b.points.size());
  for (size_t i = 0; i < a.points.size(); ++i) {
    CHECK(a.points[i].weight_norm == b.points[i].weight_norm);
    CHECK(a.points[i].alignment == b.points[i].alignment);
  }
  c.optimizer = "adam";
  CHECK_THROWS_WITH_AS(run_label_noise_toy(c), doctest::Contains("--optimizer must be sgd or sam"), Error);
  c = small_toy("sam", 0);
  c.rho = 0;
  CHECK_THROWS_WITH_AS(run_label_noise_toy(c), doctest::Contains("--rho must be > 0"), Error);
  c = small_toy("sgd", 0);
  c.batch_size = 51;
  CHECK_THROWS_WITH_AS(run_label_noise_toy(c), doctest::Contains("--batch-size must be in [1, 50]"), Error);
}

TEST_CASE("toy label-noise: the command writes a point per logged step, a summary and two figures") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("basin_apps_toy_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "toy.jsonl").string();
  std::vector<std::string> args = {"toy", "label-noise", "--width", "20", "--dim", "4", "--samples", "10",
                                   "--steps", "50", "--log-every", "10", "--optimizer", "sam", "--out", out, "--quiet"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  REQUIRE(toy_main(static_cast<int>(argv.size()), argv.data()) == 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<json::Value> lines = json::parse_lines(text, out);
  REQUIRE(lines.size() == 7);  // steps 0, 10, ..., 50 and the summary
  CHECK(lines[5].at("step").as_int64() == 50);
  CHECK(lines[6].at("type").as_string() == "summary");
  CHECK(lines[6].at("optimizer").as_string() == "sam");
  for (const char* id : {"norms", "alignment"}) {
    std::ifstream svg(figure_file(out, id));
    const std::string s((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    CHECK(s.find("<svg") != std::string::npos);
  }
  args = {"toy", "spiral"};
  argv.clear();
  for (std::string& a : args) argv.push_back(a.data());
  CHECK_THROWS_WITH_AS(toy_main(2, argv.data()), doctest::Contains("unknown toy 'spiral'"), Error);
  fs::remove_all(dir);
}
