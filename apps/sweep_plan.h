// `basin sweep`'s plan: the grid (FLAG=V1,V2 axes), its Cartesian product as
// named run configurations, their validation by the train flag parser (before
// anything runs), and what each run folder already holds (skip, resume, start).
// No processes here: apps/sweep_runner.h executes a plan.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace basin::apps {

// One --grid argument: a train flag and the values it takes.
struct GridAxis {
  std::string flag;
  std::vector<std::string> values;
};

// "FLAG=V1,V2,..."; a value holding a comma writes it as "\,". Throws naming
// the argument when the flag or a value is empty or a value is repeated.
GridAxis parse_grid_axis(const std::string& text);

using Settings = std::vector<std::pair<std::string, std::string>>;  // (flag, value), grid order

struct RunConfig {
  std::string name;    // folder name, e.g. "optimizer=sam,noise=sym_0.4,seed=1"
  Settings settings;   // the grid values of this run
  int64_t epochs = 0;  // from the validated train flags (for progress)
};

// The Cartesian product, first axis slowest. No axes: one run named "base".
std::vector<RunConfig> expand_grid(const std::vector<GridAxis>& axes);
// "flag=value" joined by ','; characters other than [A-Za-z0-9._+=,-] become
// '_' so the name is a safe folder name everywhere ("sym:0.4" -> "sym_0.4").
std::string run_name(const Settings& settings);

// A sweep's command line, split: the sweep's own flags, the grid, and the
// flags common to every run (forwarded to `basin train`).
struct SweepSpec {
  std::string out;                       // the sweep folder
  std::vector<GridAxis> grid;
  std::map<std::string, std::string> common;  // train flag -> value, as given
  std::vector<std::string> command_line;      // argv as typed (for the manifest)
  int64_t jobs = 1;
  int64_t threads = 0;  // all of them, split between the jobs; 0: every core
  bool dry_run = false;
  bool help = false;    // --help was printed
};

// Parses `basin sweep` argv (argv[0] is "sweep"). Unknown flags, bad grids and
// train flags the sweep sets itself (--out, --resume, --threads) are errors.
SweepSpec parse_sweep_args(int argc, char** argv);
std::string sweep_help();

// The train arguments of one run: the common flags, then its grid values.
std::vector<std::string> train_args(const SweepSpec& spec, const RunConfig& run);
// Expands the grid and checks every configuration with the train flag parser
// (apps/train_flags.h) without training; fills each run's epochs. Throws
// "configuration '<name>': <the train parser's message>" on the first bad one.
std::vector<RunConfig> plan_runs(const SweepSpec& spec);

// What a run folder holds, read tolerantly: summary.json's "status"
// (finished / diverged / interrupted) when present, else its "completed".
enum class RunState { New, Resume, Finished, Diverged };
struct RunFolder {
  RunState state = RunState::New;
  int64_t epochs_logged = 0;  // the last epoch line of run.jsonl
  std::string note;           // why, for --dry-run and the log ("summary.json unreadable: ...")
};
RunFolder inspect_run_folder(const std::string& dir);
const char* run_state_name(RunState state);

// sweep.json: the grid, the common flags, the runs and the basin version.
// An existing manifest with other common flags is an error (its finished runs
// would be skipped as if they matched); a changed grid is allowed.
std::string manifest_json(const SweepSpec& spec, const std::vector<RunConfig>& runs);
void check_manifest_compatible(const std::string& path, const SweepSpec& spec);

}  // namespace basin::apps
