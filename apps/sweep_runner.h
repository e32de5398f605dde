// Executes a sweep plan: up to --jobs child `basin train` processes at once
// (fork/exec of the given executable, OMP_NUM_THREADS split between them),
// each writing its stdout/stderr to train.log in its run folder; finished and
// diverged runs are skipped and interrupted ones resumed with --resume. One
// progress line with an ETA for the whole sweep; sweep.jsonl records every
// start and end. SIGINT/SIGTERM are forwarded to the children, which are
// waited for, and the command that continues the sweep is printed.
#pragma once
#include <string>
#include <vector>

#include "apps/sweep_plan.h"

namespace basin::apps {

struct SweepRunOptions {
  std::string executable;      // the basin binary (main: /proc/self/exe)
  bool quiet = false;          // no progress or report lines (tests)
  double poll_interval_s = 0.2;
};

// What one run does now: the command line the sweep would start (empty when
// the run is finished or diverged and is skipped).
struct RunLaunch {
  RunFolder folder;
  std::string dir;
  std::vector<std::string> argv;  // argv[0] is the executable
};
RunLaunch launch_for(const SweepSpec& spec, const RunConfig& run, const std::string& executable);
// Threads per child: --threads (0: every core) divided by the jobs, at least 1.
int threads_per_job(const SweepSpec& spec);

// Returns the exit code of `basin sweep`: 1 when a run failed (exited
// non-zero), 130 when interrupted, else 0 (runs that stopped unfinished, e.g.
// by a common --stop-after, are reported and resumed by the next invocation).
int run_sweep(const SweepSpec& spec, const std::vector<RunConfig>& runs, const SweepRunOptions& options);

// The arguments as one shell-pasteable line (single quotes where needed).
std::string shell_line(const std::vector<std::string>& args);

}  // namespace basin::apps
