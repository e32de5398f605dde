// apps: the sharpness-aware optimizers end to end on real images with 40%
// symmetric label noise (skipped, with a message, where Debian's
// dataset-fashion-mnist is not installed). Each must finish a short run and
// learn; the test asserts learning, not a ranking between methods.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "apps/trainer.h"
#include "data/idx.h"

using namespace basin;
using namespace basin::apps;
namespace fs = std::filesystem;

namespace {

TrainSummary short_noisy_run(const std::string& method) {
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
    const TrainSummary s = short_noisy_run(method);
    MESSAGE(method, ": clean test accuracy ", s.final_test_accuracy, " after ", s.steps,
            " steps, final train loss ", s.final_train_loss);
    CHECK(s.completed);
    CHECK(s.skipped_steps == 0);
    CHECK(std::isfinite(s.final_train_loss));
    CHECK(s.final_test_accuracy > 0.45);  // chance is 0.10
  }
}
