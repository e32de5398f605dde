// apps: what a run writes can be read by a program. run.jsonl's values are
// typed (numbers, booleans, the optimizer configuration an object), the seed
// logged is the one given and the derived ones are labelled, the epoch line
// splits train accuracy into right- and wrong-label samples, every run ends
// with an end line and summary.json's status, settings that do nothing are
// warned about, and the binary's front door (--version, help, filesystem
// errors) speaks like the rest.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/run_folder.h"
#include "apps/trainer.h"
#include "apps_run_testing.h"

using namespace basin;
using namespace basin::apps;
using basin::test::log_lines;
using basin::test::read_text;
using basin::test::TempDir;
using basin::test::tiny_config;
using basin::test::train_cli;

TEST_CASE("apps run log: run.jsonl and summary.json hold typed values; the seed is the given one") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-types");
  const std::string dir = tmp.file("run");
  REQUIRE(train_cli({"--width=0.25", "--train-limit=256", "--test-limit=64", "--epochs=1", "--batch-size=64",
                     "--lr=0.07", "--noise=sym:0.4", "--threads=2", "--quiet", "--log-every=1", "--seed=7",
                     "--optimizer=sam", "--out=" + dir}) == 0);
  const std::string log = dir + "/run.jsonl";
  const json::Value start = log_lines(log, "start").at(0);
  const json::Value& flags = start.at("flags");
  CHECK(flags.at("epochs").as_int64() == 1);
  CHECK(flags.at("lr").as_double() == 0.07);
  CHECK(flags.at("augment").as_bool() == true);
  CHECK(flags.at("nesterov").as_bool() == false);
  CHECK(flags.at("noise").as_string() == "sym:0.4");
  CHECK(flags.at("out").as_string() == dir);
  const json::Value& optimizer = start.at("optimizer");
  CHECK(optimizer.is_object());
  CHECK(optimizer.at("method").as_string() == "sam");
  CHECK(optimizer.at("lr").as_double() == 0.07);
  CHECK(optimizer.at("momentum").as_double() == 0.9);
  CHECK(optimizer.at("nesterov").as_bool() == false);
  CHECK(optimizer.at("steps_per_epoch").as_int64() == 4);
  CHECK(optimizer.find("seed") == nullptr);  // derived, logged under derived_seeds
  CHECK(start.at("seed").as_int64() == 7);
  const std::string raw_start = read_text(log).substr(0, read_text(log).find('\n'));
  CHECK(raw_start.find("\"derived_seeds\":{\"init\":" + std::to_string(derive_seed(7, 1)) + ",") != std::string::npos);

  for (const json::Value& step : log_lines(log, "step")) {
    CHECK(step.at("loss").is_number());
    CHECK(step.at("perturbed").as_bool() == true);  // SAM perturbs every step
  }
  const json::Value epoch = log_lines(log, "epoch").at(0);
  // Accuracy against the given labels = the two parts weighted by their sizes
  // (4 steps x 64 samples, mislabelled_seen of them with a wrong label).
  const double n = 256, wrong = static_cast<double>(epoch.at("mislabelled_seen").as_int64());
  CHECK(wrong > 50);  // sym:0.4 on 10 classes: about 36%
  const double right_acc = epoch.at("train_acc_right_labels").as_double();
  const double wrong_acc = epoch.at("train_acc_wrong_labels").as_double();
  CHECK(epoch.at("train_acc_noisy").as_double() ==
        doctest::Approx((right_acc * (n - wrong) + wrong_acc * wrong) / n).epsilon(1e-6));
  CHECK(wrong_acc == epoch.at("memorization").as_double());
  CHECK(right_acc > 0);

  const json::Value end = log_lines(log, "end").at(0);
  CHECK(end.at("status").as_string() == "finished");
  CHECK(end.at("completed").as_bool() == true);
  const json::Value summary = json::parse_file(dir + "/summary.json");
  CHECK(summary.at("status").as_string() == "finished");
  CHECK(summary.at("epochs_done").as_int64() == 1);
  CHECK(summary.at("optimizer").at("rho").as_double() == -1);
  CHECK(summary.at("flags").at("batch-size").as_int64() == 64);
  CHECK(summary.at("final_train_loss").as_double() == doctest::Approx(epoch.at("train_loss").as_double()));
}

TEST_CASE("apps run log: settings that do nothing are warned about") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-warnings");
  TrainConfig c = tiny_config(tmp.file("run"));
  c.epochs = 1;
  c.optim.method = "ncsam";
  c.optim.warmup_epochs = 2;        // longer than the run
  c.optim.schedule = "multistep";
  c.optim.milestones = {0.5, 0.25, 3};  // unsorted, and 3 is past the end
  c.dump_step = 4;                  // steps are 0..3
  const TrainSummary s = run_training(c);
  const auto warned = [&](const std::string& text) {
    for (const std::string& w : s.warnings)
      if (w.find(text) != std::string::npos) return true;
    return false;
  };
  CHECK(s.warnings.size() == 4);
  CHECK(warned("NCSAM's warm-up (--warmup-epochs 2) covers all 1 epochs: every step is plain SGD"));
  CHECK(warned("are not in increasing order"));
  CHECK(warned("milestone 3 is at or past the end of the run (1 epochs)"));
  CHECK(warned("--dump-step 4 is past the last step"));
  CHECK_FALSE(std::filesystem::exists(tmp.file("run") + "/step_4.safetensors"));

  TrainConfig plain = tiny_config(tmp.file("plain"));  // CA-SAM, warm-up 1 of 2 epochs
  plain.stop_after = 1;
  CHECK(run_training(plain).warnings.empty());
}

#if defined(BASIN_BINARY)
namespace {

// stdout and stderr of the basin binary with `args`, and its exit status.
std::pair<std::string, int> run_binary(const std::string& args) {
  FILE* p = ::popen((std::string(BASIN_BINARY) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace

TEST_CASE("apps front door: --version, help, and filesystem errors worded like the rest") {
  const auto [version, version_rc] = run_binary("--version");
  CHECK(version_rc == 0);
  CHECK(version.rfind("basin ", 0) == 0);
  CHECK(version.find("\ncommit ") != std::string::npos);
  CHECK(version.find("commit unknown\n") == std::string::npos);  // built from this git checkout
  CHECK(version.find("\nCUDA: ") != std::string::npos);
  CHECK(version.find("\ncuDNN: ") != std::string::npos);
  const auto [help, help_rc] = run_binary("help");
  CHECK(help_rc == 0);
  CHECK(help.find("train") != std::string::npos);
  CHECK(help.find("--version") != std::string::npos);
  const auto [train_help, train_help_rc] = run_binary("help train");
  CHECK(train_help_rc == 0);
  CHECK(train_help.find("usage: basin train") != std::string::npos);
  CHECK(train_help.find("--overwrite") != std::string::npos);
  CHECK(run_binary("help nonsense").second == 2);

  // --out inside a regular file: the directory cannot be made.
  if (!basin::test::have_fashion_mnist()) return;
  TempDir tmp("basin-front-door");
  std::ofstream(tmp.file("file")) << "x";
  // Not a structured binding: clang 14 (make sanitize) refuses one inside CHECK_MESSAGE's lambda.
  const auto result =
      run_binary("train --width 0.25 --train-limit 64 --test-limit 64 --batch-size 64 --epochs 1 --quiet --out " +
                 tmp.file("file") + "/run");
  const std::string& err = result.first;
  const int rc = result.second;
  CHECK(rc == 1);
  CHECK_MESSAGE(err.find("basin train: error: " + tmp.file("file") + "/run: cannot create directories") !=
                    std::string::npos,
                err);
  CHECK(err.find("unexpected") == std::string::npos);
}
#endif
