// apps: `basin sweep`: grid parsing and expansion, folder names, validation of
// every configuration before anything runs, what a run folder holds (skip,
// resume, start over), and the execution of children (jobs, threads, logs,
// failures, Ctrl-C) with a stand-in training script instead of the trainer.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/sweep_plan.h"
#include "apps/sweep_runner.h"
#include "core/error.h"
#include "core/json.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::apps;
using basin::test::error_message;
using basin::test::TempDir;

namespace {

SweepSpec spec_of(std::vector<std::string> args) {
  args.insert(args.begin(), "sweep");
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  return parse_sweep_args(static_cast<int>(argv.size()), argv.data());
}

std::string plan_error(std::vector<std::string> args) {
  return error_message([&] { plan_runs(spec_of(std::move(args))); });
}

void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Stands in for `basin train`: records its arguments and OMP_NUM_THREADS,
// logs one epoch and finishes; --seed=7 fails, --seed=9 waits to be stopped.
std::string fake_trainer(const TempDir& tmp) {
  const std::string path = tmp.file("fake-basin.sh");
  write_text(path,
             "#!/bin/sh\n"
             "for a in \"$@\"; do case \"$a\" in --out=*) out=\"${a#--out=}\";; esac; done\n"
             "echo \"$* OMP=$OMP_NUM_THREADS\" >> \"$out/args.txt\"\n"
             "case \"$*\" in *--seed=7*) echo 'boom: bad things' >&2; exit 3;; esac\n"
             "case \"$*\" in *--seed=9*) exec sleep 30;; esac\n"
             "printf '{\"type\":\"epoch\",\"epoch\":1,\"epoch_s\":0.01}\\n' >> \"$out/run.jsonl\"\n"
             "printf '{\"status\":\"finished\",\"final_test_accuracy\":0.5,\"best_test_accuracy\":0.625}\\n'"
             " > \"$out/summary.json\"\n");
  chmod(path.c_str(), 0755);
  return path;
}

}  // namespace

TEST_CASE("apps: sweep grid axes parse values, escaped commas and reject empty or repeated values") {
  const GridAxis a = parse_grid_axis("schedule=cosine,multistep:3\\,6");
  CHECK(a.flag == "schedule");
  CHECK(a.values == std::vector<std::string>{"cosine", "multistep:3,6"});
  CHECK(parse_grid_axis("--seed=0").values == std::vector<std::string>{"0"});
  CHECK(error_message([] { parse_grid_axis("seed="); }).find("empty value list") != std::string::npos);
  CHECK(error_message([] { parse_grid_axis("seed=1,,2"); }).find("empty value") != std::string::npos);
  CHECK(error_message([] { parse_grid_axis("seed=1,2,1"); }).find("'1' is listed twice") != std::string::npos);
  CHECK(error_message([] { parse_grid_axis("seed"); }).find("expected FLAG=V1,V2") != std::string::npos);
}

TEST_CASE("apps: sweep expands the Cartesian product, first axis slowest, with safe folder names") {
  const std::vector<RunConfig> runs =
      expand_grid({parse_grid_axis("optimizer=sgd,sam"), parse_grid_axis("noise=sym:0.4,asym:0.2/x"),
                   parse_grid_axis("seed=0,1,2")});
  REQUIRE(runs.size() == 12);
  CHECK(runs[0].name == "optimizer=sgd,noise=sym_0.4,seed=0");
  CHECK(runs[1].name == "optimizer=sgd,noise=sym_0.4,seed=1");
  CHECK(runs[3].name == "optimizer=sgd,noise=asym_0.2_x,seed=0");
  CHECK(runs[11].name == "optimizer=sam,noise=asym_0.2_x,seed=2");
  CHECK(runs[11].settings[1] == std::pair<std::string, std::string>{"noise", "asym:0.2/x"});
  REQUIRE(expand_grid({}).size() == 1);
  CHECK(expand_grid({})[0].name == "base");
}

TEST_CASE("apps: sweep splits its own flags from the common train flags") {
  const SweepSpec s = spec_of({"--out", "sw", "--grid", "seed=0,1", "--epochs", "3", "--no-augment", "--jobs=2",
                               "--threads", "6", "--rho=0.1", "--dry-run"});
  CHECK(s.out == "sw");
  CHECK(s.jobs == 2);
  CHECK(s.threads == 6);
  CHECK(s.dry_run);
  CHECK(s.common == std::map<std::string, std::string>{{"epochs", "3"}, {"augment", "false"}, {"rho", "0.1"}});
  CHECK(threads_per_job(s) == 3);
  REQUIRE(s.grid.size() == 1);
  const std::vector<RunConfig> runs = plan_runs(s);
  REQUIRE(runs.size() == 2);
  CHECK(runs[1].epochs == 3);
  CHECK(train_args(s, runs[1]) ==
        std::vector<std::string>{"--augment=false", "--epochs=3", "--rho=0.1", "--seed=1"});
}

TEST_CASE("apps: sweep rejects bad grids before anything runs, naming the configuration") {
  CHECK(plan_error({"--grid", "seed=0"}).find("--out") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "sede=0,1"}).find("unknown train flag --sede") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "seed="}).find("empty value list") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "seed=1", "--grid", "seed=2"}).find("given twice") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "seed=1", "--seed=3"}).find("also given as a common flag") !=
        std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "out=a,b"}).find("sets this flag itself") != std::string::npos);
  CHECK(plan_error({"--out=s", "--resume=x"}).find("--resume is set by the sweep") != std::string::npos);
  CHECK(plan_error({"--out=s", "--epochz=3"}).find("unknown flag --epochz") != std::string::npos);
  CHECK(plan_error({"--out=s", "--jobs=0"}).find("--jobs") != std::string::npos);
  // Values the train parser refuses, found in the one configuration that has them.
  const std::string bad_epochs = plan_error({"--out=s", "--grid", "seed=0,1", "--grid", "epochs=2,x"});
  CHECK(bad_epochs.find("configuration 'seed=0,epochs=x'") != std::string::npos);
  CHECK(bad_epochs.find("flag --epochs") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "optimizer=sgd,adamw"}).find("configuration 'optimizer=adamw'") !=
        std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "noise=sym:0.4,sym:1.5"}).find("flag --noise") != std::string::npos);
  CHECK(plan_error({"--out=s", "--grid", "model=x:1,x_1"}).find("two configurations get this folder name") !=
        std::string::npos);
}

TEST_CASE("apps: sweep reads run folders tolerantly: skip finished and diverged, resume checkpoints") {
  TempDir tmp("basin-sweep");
  auto dir = [&](const std::string& name) { return tmp.file(name); };
  CHECK(inspect_run_folder(dir("missing")).state == RunState::New);

  write_text(dir("log-only") + "/run.jsonl", "{\"type\":\"start\"}\n{\"type\":\"epoch\",\"epoch\":1}\n");
  const RunFolder log_only = inspect_run_folder(dir("log-only"));
  CHECK(log_only.state == RunState::New);
  CHECK(log_only.note.find("no checkpoint") != std::string::npos);

  write_text(dir("resume") + "/run.jsonl",
             "{\"type\":\"epoch\",\"epoch\":1}\n{\"type\":\"step\",\"step\":9}\n{\"type\":\"epoch\",\"epoch\":2}\n{\"ty");
  write_text(dir("resume") + "/checkpoint.safetensors", "x");
  const RunFolder resume = inspect_run_folder(dir("resume"));
  CHECK(resume.state == RunState::Resume);
  CHECK(resume.epochs_logged == 2);  // the torn last line is ignored

  write_text(dir("finished") + "/summary.json", "{\"status\": \"finished\", \"extra\": [1]}");
  CHECK(inspect_run_folder(dir("finished")).state == RunState::Finished);
  write_text(dir("old-finished") + "/summary.json", "{\"completed\": true}");  // before "status" existed
  CHECK(inspect_run_folder(dir("old-finished")).state == RunState::Finished);
  write_text(dir("diverged") + "/summary.json", "{\"status\": \"diverged\"}");
  CHECK(inspect_run_folder(dir("diverged")).state == RunState::Diverged);
  write_text(dir("stopped") + "/summary.json", "{\"completed\": false}");
  write_text(dir("stopped") + "/checkpoint.safetensors", "x");
  CHECK(inspect_run_folder(dir("stopped")).state == RunState::Resume);
  write_text(dir("interrupted") + "/summary.json", "{\"status\": \"interrupted\"}");
  CHECK(inspect_run_folder(dir("interrupted")).state == RunState::New);
  write_text(dir("corrupt") + "/summary.json", "{\"status\": ");
  write_text(dir("corrupt") + "/checkpoint.safetensors", "x");
  const RunFolder corrupt = inspect_run_folder(dir("corrupt"));
  CHECK(corrupt.state == RunState::Resume);
  CHECK(corrupt.note.find("summary.json unreadable") != std::string::npos);

  SweepSpec spec = spec_of({"--out=" + tmp.str(), "--epochs=2"});
  RunConfig r;
  r.name = "resume";
  std::vector<std::string> argv = launch_for(spec, r, "/bin/basin").argv;
  REQUIRE(argv.size() >= 5);
  CHECK(argv[0] == "/bin/basin");
  CHECK(argv[1] == "train");
  CHECK(std::find(argv.begin(), argv.end(), "--resume=" + dir("resume")) != argv.end());
  r.name = "missing";
  argv = launch_for(spec, r, "/bin/basin").argv;
  CHECK(std::find(argv.begin(), argv.end(), "--out=" + dir("missing")) != argv.end());
  CHECK(std::find_if(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("--resume", 0) == 0; }) ==
        argv.end());
  r.name = "diverged";
  CHECK(launch_for(spec, r, "/bin/basin").argv.empty());
}

TEST_CASE("apps: sweep manifest round-trips and guards against other common flags") {
  TempDir tmp("basin-sweep");
  const SweepSpec spec = spec_of({"--out=" + tmp.str(), "--grid", "optimizer=sgd,sam", "--epochs=2"});
  const std::string path = tmp.file("sweep.json");
  write_text(path, manifest_json(spec, plan_runs(spec)));
  const json::Value m = json::parse_file(path);
  CHECK(m.at("grid").at(0).at("values").as_string_array() == std::vector<std::string>{"sgd", "sam"});
  CHECK(m.at("runs").size() == 2);
  CHECK(m.at("runs").at(1).at("name").as_string() == "optimizer=sam");
  CHECK(m.at("common").at("epochs").as_string() == "2");
  CHECK(!m.at("basin_version").as_string().empty());
  check_manifest_compatible(path, spec);  // same flags, another grid is fine
  check_manifest_compatible(path, spec_of({"--out=" + tmp.str(), "--grid", "seed=1", "--epochs=2"}));
  const std::string err = error_message(
      [&] { check_manifest_compatible(path, spec_of({"--out=" + tmp.str(), "--epochs=3"})); });
  CHECK(err.find("--epochs=2") != std::string::npos);
  CHECK(err.find("--epochs=3") != std::string::npos);
}

TEST_CASE("apps: sweep runs children in parallel, skips finished runs, resumes, and reports failures") {
  TempDir tmp("basin-sweep");
  SweepRunOptions opt;
  opt.executable = fake_trainer(tmp);
  opt.quiet = true;
  opt.poll_interval_s = 0.01;
  const std::string out = tmp.file("sw");
  const SweepSpec spec = spec_of({"--out=" + out, "--grid", "optimizer=sgd,sam", "--grid", "seed=0,1",
                                  "--epochs=1", "--jobs=2", "--threads=4"});
  const std::vector<RunConfig> runs = plan_runs(spec);
  // One run was interrupted earlier: it holds a checkpoint and must be resumed.
  write_text(out + "/optimizer=sam,seed=0/checkpoint.safetensors", "x");
  write_text(out + "/optimizer=sam,seed=0/run.jsonl", "{\"type\":\"epoch\",\"epoch\":0}\n");
  CHECK(run_sweep(spec, runs, opt) == 0);
  for (const RunConfig& r : runs) {
    CHECK(inspect_run_folder(out + "/" + r.name).state == RunState::Finished);
    const std::string args = read_text(out + "/" + r.name + "/args.txt");
    CHECK(args.find("train ") == 0);
    CHECK(args.find("--out=" + out + "/" + r.name) != std::string::npos);
    CHECK(args.find("OMP=2") != std::string::npos);  // 4 threads over 2 jobs
    CHECK((args.find("--resume=") != std::string::npos) == (r.name == "optimizer=sam,seed=0"));
    CHECK(read_text(out + "/" + r.name + "/train.log").find("=== basin sweep: ") == 0);
  }
  const std::vector<json::Value> events = json::parse_lines_file(out + "/sweep.jsonl");
  CHECK(events.size() == 8);  // a start and an end per run

  // A second invocation finds everything finished and starts nothing.
  CHECK(run_sweep(spec, runs, opt) == 0);
  CHECK(json::parse_lines_file(out + "/sweep.jsonl").size() == 8);
  CHECK(read_text(out + "/optimizer=sgd,seed=0/args.txt").find('\n') ==
        read_text(out + "/optimizer=sgd,seed=0/args.txt").size() - 1);  // ran once

  // A failing run is reported (exit code 1) and its stderr is in its log; the others still run.
  const SweepSpec failing = spec_of({"--out=" + out, "--grid", "seed=7,8", "--epochs=1"});
  CHECK(run_sweep(failing, plan_runs(failing), opt) == 1);
  CHECK(read_text(out + "/seed=7/train.log").find("boom: bad things") != std::string::npos);
  CHECK(inspect_run_folder(out + "/seed=8").state == RunState::Finished);
}

TEST_CASE("apps: sweep forwards Ctrl-C to its children, waits for them and exits 130") {
  TempDir tmp("basin-sweep");
  SweepRunOptions opt;
  opt.executable = fake_trainer(tmp);
  opt.quiet = true;
  opt.poll_interval_s = 0.01;
  const SweepSpec spec = spec_of({"--out=" + tmp.file("sw"), "--grid", "seed=9,1", "--epochs=1"});
  const auto t0 = std::chrono::steady_clock::now();
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(getpid(), SIGINT);
  });
  const int code = run_sweep(spec, plan_runs(spec), opt);
  interrupter.join();
  CHECK(code == 130);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));  // the sleeping child was stopped
  CHECK(inspect_run_folder(tmp.file("sw/seed=1")).state == RunState::New);  // never started (jobs=1)
  CHECK(!std::filesystem::exists(tmp.file("sw/seed=1")));
}
