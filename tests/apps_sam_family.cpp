// apps: the sharpness-aware optimizers end to end on real images with 40%
// symmetric label noise (skipped, with a message, where Debian's
// dataset-fashion-mnist is not installed). Each must finish a short run and
// learn; the test asserts learning, not a ranking between methods.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "apps/trainer.h"
#include "core/json.h"
#include "data/idx.h"

using namespace basin;
using namespace basin::apps;
namespace fs = std::filesystem;

namespace {

// The run's step lines, parsed (read before the run folder is removed).
std::vector<json::Value> step_lines_of(const fs::path& run_jsonl) {
  std::ifstream in(run_jsonl);
  std::vector<json::Value> out;
  std::string line;
  while (std::getline(in, line)) {
    json::Value v = json::parse(line, "run.jsonl");
    if (v.at("type").as_string() == "step") out.push_back(std::move(v));
  }
  return out;
}

TrainSummary short_noisy_run(const std::string& method, std::vector<json::Value>* steps = nullptr) {
  const fs::path dir = fs::temp_directory_path() / ("basin_sam_family_" + method + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  TrainConfig c;
  c.model = "resnet20";
  c.width = 0.5;
  c.train_limit = 2000;
  c.test_limit = 500;
  c.noise = "sym:0.4";
  c.noise_seed = 1;
  c.epochs = 3;  // 93 steps of batch 64
  c.batch_size = 64;
  c.seed = 2;
  c.optim.method = method;
  c.optim.lr = 0.05;
  c.optim.warmup_epochs = 1;  // NCSAM: plain SGD in epoch 0, perturbed after
  c.optim.r_flip = 0.4;
  c.threads = 2;
  c.log_every = 10;
  c.eval_every = 3;
  c.out_dir = dir.string();
  c.quiet = true;
  const TrainSummary s = run_training(c);
  if (steps) *steps = step_lines_of(dir / "run.jsonl");
  fs::remove_all(dir);
  return s;
}

}  // namespace

TEST_CASE("apps: SAM and NCSAM each learn Fashion-MNIST under 40% symmetric noise") {
  if (!fs::exists(std::string(data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir,
            " (apt install dataset-fashion-mnist)");
    return;
  }
  for (const std::string method : {"sam", "ncsam"}) {
    CAPTURE(method);
    std::vector<json::Value> steps;
    const TrainSummary s = short_noisy_run(method, &steps);
    MESSAGE(method, ": clean test accuracy ", s.final_test_accuracy, " after ", s.steps,
            " steps, final train loss ", s.final_train_loss);
    CHECK(s.completed);
    CHECK(s.skipped_steps == 0);
    CHECK(std::isfinite(s.final_train_loss));
    CHECK(s.final_test_accuracy > 0.45);  // chance is 0.10
    // The step log's NCSAM observables: shares of wrong labels in the batch
    // and among the chosen rows, the compensation's size against rho.
    REQUIRE(steps.size() >= 5);
    double batch_share_sum = 0;
    int ncsam_steps = 0;
    for (const json::Value& line : steps) {
      const double batch_share = line.at("batch_wrong_share").as_double();
      CHECK(batch_share >= 0.0);
      CHECK(batch_share <= 1.0);
      batch_share_sum += batch_share;
      if (method == "ncsam" && line.at("perturbed").as_bool()) {
        ++ncsam_steps;
        const double chosen_share = line.at("chosen_wrong_share").as_double();
        CHECK(chosen_share >= 0.0);
        CHECK(chosen_share <= 1.0);
        CHECK(line.at("comp_ratio").as_double() > 0.0);
      } else {
        CHECK(line.at("chosen_wrong_share").is_null());
        CHECK(line.at("comp_ratio").is_null());
      }
    }
    if (method == "ncsam") CHECK(ncsam_steps >= 3);
    // sym:0.4 on 10 classes realises about 0.36 wrong labels
    CHECK(batch_share_sum / static_cast<double>(steps.size()) == doctest::Approx(0.36).epsilon(0.25));
  }
}
