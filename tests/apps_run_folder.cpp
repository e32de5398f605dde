// apps: a run is never overwritten by accident, and its files say what
// happened. Resuming a finished run changes no byte; --out onto a run is
// refused without --overwrite; --resume X --out Y writes a whole run in Y; a
// kill or a Ctrl-C (SIGINT, raised here at a chosen step) followed by a resume
// leaves one resume line, no duplicated steps and the numbers of a straight
// run; --epochs extends a run with the schedule of the new length; a flag that
// cannot change on resume is named with both values; a diverged run says so.
// Real Fashion-MNIST images (skipped where Debian's package is missing).
#include <doctest/doctest.h>

#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/run_folder.h"
#include "apps/trainer.h"
#include "apps_run_testing.h"
#include "core/dtype.h"
#include "core/error.h"

using namespace basin;
using namespace basin::apps;
using basin::test::error_message;
using basin::test::log_lines;
using basin::test::read_text;
using basin::test::snapshot;
using basin::test::TempDir;
using basin::test::tiny_config;
using basin::test::train_cli;
namespace fs = std::filesystem;

namespace {

// The flags of a tiny run for `basin train` (the CLI path saves flags in the checkpoint).
std::vector<std::string> tiny_flags(const std::string& out) {
  return {"--width=0.25", "--train-limit=256", "--test-limit=64", "--epochs=1", "--batch-size=64", "--lr=0.07",
          "--noise=sym:0.4",  "--threads=2",      "--quiet",         "--out=" + out};
}

// The step lines of a log as (step, loss text): equal texts mean equal numbers.
std::vector<std::pair<int64_t, double>> steps_of(const std::string& log) {
  std::vector<std::pair<int64_t, double>> out;
  for (const json::Value& v : log_lines(log, "step")) out.push_back({v.at("step").as_int64(), v.at("loss").as_double()});
  return out;
}

std::vector<double> epoch_field(const std::string& log, const std::string& field) {
  std::vector<double> out;
  for (const json::Value& v : log_lines(log, "epoch")) out.push_back(v.at(field).as_double());
  return out;
}

void check_same_tensors(const std::string& a, const std::string& b) {
  const Checkpoint ca = load_checkpoint(a), cb = load_checkpoint(b);
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    CAPTURE(ca.tensors[i].first);
    REQUIRE(ca.tensors[i].first == cb.tensors[i].first);
    const Tensor x = ca.tensors[i].second.contiguous(), y = cb.tensors[i].second.contiguous();
    const size_t bytes = static_cast<size_t>(x.numel()) * dtype_size(x.dtype());
    REQUIRE(x.shape() == y.shape());
    CHECK(std::memcmp(x.raw_data(), y.raw_data(), bytes) == 0);
  }
}

}  // namespace

TEST_CASE("apps run folder: resuming a finished run changes no file and says it is finished") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-finished");
  const std::string dir = tmp.file("run");
  REQUIRE(train_cli(tiny_flags(dir)) == 0);
  const auto before = snapshot(dir);
  REQUIRE(before.count("summary.json"));
  REQUIRE(before.count("checkpoint.safetensors"));
  CHECK(train_cli({"--resume", dir, "--quiet"}) == 0);
  CHECK(snapshot(dir) == before);  // every byte, and no file added or removed

  // The library call reports it without running.
  TrainConfig c = tiny_config(tmp.file("lib"));
  c.epochs = 1;
  run_training(c);
  const auto lib_before = snapshot(c.out_dir);
  c.resume = c.out_dir;
  const TrainSummary s = run_training(c);
  CHECK(s.already_finished);
  CHECK(s.status == "finished");
  CHECK(s.epochs_done == 1);
  CHECK(s.final_test_accuracy >= 0);
  CHECK(snapshot(c.out_dir) == lib_before);
}

TEST_CASE("apps run folder: --out onto a run is refused without --overwrite; --overwrite replaces it") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-overwrite");
  TrainConfig c = tiny_config(tmp.file("run"));
  c.epochs = 1;
  run_training(c);
  std::ofstream(c.out_dir + "/step_3.safetensors") << "an old dump";
  std::ofstream(c.out_dir + "/notes.txt") << "the user's own file";
  const auto before = snapshot(c.out_dir);
  const std::string err = error_message([&] { run_training(c); });
  CHECK_MESSAGE(err.find("already holds a run") != std::string::npos, err);
  CHECK_MESSAGE(err.find("--overwrite") != std::string::npos, err);
  CHECK_MESSAGE(err.find("--resume") != std::string::npos, err);
  CHECK(snapshot(c.out_dir) == before);

  c.overwrite = true;
  c.seed = 11;
  run_training(c);
  CHECK(log_lines(c.out_dir + "/run.jsonl", "start").size() == 1);
  CHECK(log_lines(c.out_dir + "/run.jsonl", "start")[0].at("seed").as_int64() == 11);
  CHECK_FALSE(fs::exists(c.out_dir + "/step_3.safetensors"));  // the old run's dump went with it
  CHECK(read_text(c.out_dir + "/notes.txt") == "the user's own file");
}

TEST_CASE("apps run folder: --resume X --out Y writes a complete run in Y and leaves X alone") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-elsewhere");
  TrainConfig first = tiny_config(tmp.file("x"));
  first.stop_after = 1;
  CHECK(run_training(first).status == "interrupted");
  const auto x_before = snapshot(first.out_dir);

  TrainConfig second = tiny_config(tmp.file("y"));
  second.resume = first.out_dir;
  const TrainSummary s = run_training(second);
  CHECK(s.status == "finished");
  CHECK(snapshot(first.out_dir) == x_before);
  const std::string log = tmp.file("y") + "/run.jsonl";
  std::vector<std::string> types;
  for (const json::Value& v : log_lines(log))
    if (v.at("type").as_string() != "step") types.push_back(v.at("type").as_string());
  CHECK(types == std::vector<std::string>{"start", "epoch", "end", "resume", "epoch", "end"});
  const json::Value summary = json::parse_file(tmp.file("y") + "/summary.json");
  CHECK(summary.at("status").as_string() == "finished");
  const std::string ck = summary.at("checkpoint").as_string();
  CHECK(fs::equivalent(ck, tmp.file("y") + "/checkpoint.safetensors"));
  CHECK(load_checkpoint(ck).meta("epoch") == "2");

  // Y now holds a run: a second --resume X --out Y is refused like any --out onto a run.
  CHECK(error_message([&] { run_training(second); }).find("already holds a run") != std::string::npos);
}

TEST_CASE("apps run folder: Ctrl-C mid-epoch, then a kill, then resume = a straight run, with one log per step") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-sigint");
  TrainConfig straight = tiny_config(tmp.file("straight"));
  straight.log_every = 1;
  REQUIRE(run_training(straight).status == "finished");

  // SIGINT (the real handler, raised in this thread) after step 3 of 8: step 3
  // finishes, a checkpoint holds the position inside epoch 1.
  TrainConfig split = tiny_config(tmp.file("split"));
  split.log_every = 1;
  split.after_step = [](int64_t steps) {
    if (steps == 3) std::raise(SIGINT);
  };
  const TrainSummary stopped = run_training(split);
  CHECK(stopped.status == "interrupted");
  CHECK(stopped.reason.find("SIGINT") != std::string::npos);
  CHECK(stopped.steps == 3);
  const Checkpoint mid = load_checkpoint(tmp.file("split") + "/checkpoint.safetensors");
  CHECK(mid.meta("step") == "3");
  CHECK(mid.meta("epoch") == "0");
  const json::Value summary = json::parse_file(tmp.file("split") + "/summary.json");
  CHECK(summary.at("status").as_string() == "interrupted");
  CHECK(summary.at("resume_command").as_string().find("train --resume " + tmp.file("split")) != std::string::npos);
  CHECK(log_lines(tmp.file("split") + "/run.jsonl", "end").size() == 1);

  // A later invocation killed during step 5: its step lines and a torn last
  // line are in the log, but the checkpoint is still at step 3.
  {
    std::ofstream log(tmp.file("split") + "/run.jsonl", std::ios::app);
    log << "{\"type\":\"resume\",\"step\":3,\"epoch\":0}\n";
    log << "{\"type\":\"step\",\"step\":3,\"epoch\":1,\"loss\":9.5}\n";
    log << "{\"type\":\"step\",\"step\":4,\"epoch\":2,\"loss\":9.5}\n";
    log << "{\"type\":\"epoch\",\"epoch\":1,\"step\":4,\"train_loss\":9.5}\n";
    log << "{\"type\":\"step\",\"st";
  }
  split.after_step = nullptr;
  split.resume = tmp.file("split");
  REQUIRE(run_training(split).status == "finished");

  const std::string log = tmp.file("split") + "/run.jsonl";
  const std::vector<json::Value> resumes = log_lines(log, "resume");
  REQUIRE(resumes.size() == 2);  // the stale one (position 3 <= 3) is kept, ours follows
  CHECK(resumes[1].at("step").as_int64() == 3);
  CHECK(resumes[1].at("dropped_lines").as_int64() == 4);
  // Every step once, with the straight run's numbers (CPU runs are bit-exact).
  CHECK(steps_of(log) == steps_of(tmp.file("straight") + "/run.jsonl"));
  CHECK(steps_of(log).size() == 8);
  for (const char* field : {"train_loss", "train_acc_noisy", "memorization", "test_acc"})
    CHECK_MESSAGE(epoch_field(log, field) == epoch_field(tmp.file("straight") + "/run.jsonl", field), field);
  check_same_tensors(tmp.file("straight") + "/checkpoint.safetensors", tmp.file("split") + "/checkpoint.safetensors");
}

TEST_CASE("apps run folder: --epochs N extends a finished run with the schedule of an N-epoch run") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-extend");
  TrainConfig c = tiny_config(tmp.file("run"));
  c.optim.method = "sgd";
  c.epochs = 1;
  c.log_every = 1;
  REQUIRE(run_training(c).status == "finished");
  c.resume = c.out_dir;
  c.epochs = 3;
  const TrainSummary s = run_training(c);
  CHECK(s.status == "finished");
  CHECK(s.epochs_done == 3);
  CHECK(s.steps == 12);
  const std::string log = c.out_dir + "/run.jsonl";
  const std::vector<json::Value> resumes = log_lines(log, "resume");
  REQUIRE(resumes.size() == 1);
  CHECK(resumes[0].at("epochs_before").as_int64() == 1);
  CHECK(resumes[0].at("epochs").as_int64() == 3);
  // Steps 0-3 followed a 1-epoch cosine (4 steps); from step 4 on, a 3-epoch one (12 steps).
  for (const json::Value& v : log_lines(log, "step")) {
    const int64_t t = v.at("step").as_int64();
    const double total = t < 4 ? 4.0 : 12.0;
    CAPTURE(t);
    CHECK(v.at("lr").as_double() == doctest::Approx(0.05 * 0.5 * (1 + std::cos(M_PI * t / total))).epsilon(1e-6));
  }
  CHECK(load_checkpoint(c.out_dir + "/checkpoint.safetensors").meta("train.epochs") == "3");

  // Shorter than what is done: refused, nothing written.
  const auto before = snapshot(c.out_dir);
  c.epochs = 2;
  const std::string err = error_message([&] { run_training(c); });
  CHECK_MESSAGE(err.find("already trained 3 epochs") != std::string::npos, err);
  CHECK(snapshot(c.out_dir) == before);
}

TEST_CASE("apps run folder: a flag that cannot change on resume is refused naming it, the old and the new value") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-changed");
  const std::string dir = tmp.file("run");
  std::vector<std::string> flags = tiny_flags(dir);
  flags.push_back("--stop-after=1");
  flags[3] = "--epochs=2";
  REQUIRE(train_cli(flags) == 0);
  const auto before = snapshot(dir);
  const std::string err = error_message([&] { train_cli({"--resume", dir, "--lr", "0.1", "--quiet"}); });
  CHECK_MESSAGE(err.find("--lr") != std::string::npos, err);
  CHECK_MESSAGE(err.find("lr=0.07") != std::string::npos, err);
  CHECK_MESSAGE(err.find("lr=0.1") != std::string::npos, err);
  CHECK(err.size() < 300);
  // The same value written differently is no change; execution flags may change.
  CHECK(snapshot(dir) == before);
  CHECK(train_cli({"--resume", dir, "--lr", "0.070", "--threads", "1", "--quiet"}) == 0);

  // The library path names the setting too.
  TrainConfig c = tiny_config(tmp.file("lib"));
  c.stop_after = 1;
  run_training(c);
  c.resume = c.out_dir;
  c.optim.rho = 0.2;
  const std::string lib_err = error_message([&] { run_training(c); });
  CHECK_MESSAGE(lib_err.find("--rho cannot change on resume") != std::string::npos, lib_err);
  CHECK_MESSAGE(lib_err.find("'-1' there, and is '0.2' now") != std::string::npos, lib_err);
}

TEST_CASE("apps run folder: a diverged run ends with status diverged, the step and the reason; it is not resumed") {
  BASIN_REQUIRE_FASHION_MNIST();
  TempDir tmp("basin-run-diverged");
  TrainConfig c = tiny_config(tmp.file("run"));
  c.optim.method = "sgd";
  c.optim.lr = 1e30;
  c.optim.max_consecutive_skips = 1;
  c.stop_after = 0;
  const TrainSummary s = run_training(c);
  CHECK(s.status == "diverged");
  CHECK(s.diverged_step >= 1);
  CHECK(s.reason.find("diverged") != std::string::npos);
  const json::Value summary = json::parse_file(c.out_dir + "/summary.json");
  CHECK(summary.at("status").as_string() == "diverged");
  CHECK(summary.at("diverged_step").as_int64() == s.diverged_step);
  CHECK(summary.at("reason").as_string() == s.reason);
  const std::vector<json::Value> ends = log_lines(c.out_dir + "/run.jsonl", "end");
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].at("status").as_string() == "diverged");
  CHECK(ends[0].at("step").as_int64() == s.diverged_step);
  c.resume = c.out_dir;
  CHECK(error_message([&] { run_training(c); }).find("diverged at step") != std::string::npos);
}
