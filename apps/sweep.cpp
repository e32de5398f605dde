// `basin sweep`: a grid of `basin train` configurations, one run folder each,
// restartable at any time. The plan is apps/sweep_plan.h, the execution
// apps/sweep_runner.h; this file is the command's order of work.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/commands.h"
#include "apps/json_writer.h"
#include "apps/sweep_plan.h"
#include "apps/sweep_runner.h"
#include "core/error.h"

namespace basin::apps {
namespace {

std::string own_executable() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  BASIN_CHECK(n > 0, "cannot find the basin binary (/proc/self/exe) to start the runs");
  return std::string(buf, static_cast<size_t>(n));
}

void print_dry_run(const SweepSpec& spec, const std::vector<RunConfig>& runs, const std::string& exe) {
  std::printf("%zu runs in %s (threads per run: %d)\n", runs.size(), spec.out.c_str(), threads_per_job(spec));
  for (const RunConfig& run : runs) {
    const RunLaunch l = launch_for(spec, run, exe);
    std::printf("%-9s epoch %lld/%lld  %s%s%s\n", run_state_name(l.folder.state),
                static_cast<long long>(l.folder.epochs_logged), static_cast<long long>(run.epochs),
                run.name.c_str(), l.folder.note.empty() ? "" : ("  (" + l.folder.note + ")").c_str(),
                l.argv.empty() ? "  (skipped)" : "");
    if (!l.argv.empty()) std::printf("          %s\n", shell_line(l.argv).c_str());
  }
}

}  // namespace

int sweep_main(int argc, char** argv) {
  const SweepSpec spec = parse_sweep_args(argc, argv);
  if (spec.help) return 0;
  // Every configuration is checked before anything is written or started.
  const std::vector<RunConfig> runs = plan_runs(spec);
  const std::string manifest = (std::filesystem::path(spec.out) / "sweep.json").string();
  check_manifest_compatible(manifest, spec);
  const std::string exe = own_executable();
  if (spec.dry_run) {
    print_dry_run(spec, runs, exe);
    return 0;
  }
  std::filesystem::create_directories(spec.out);
  write_text_atomic(manifest, manifest_json(spec, runs));
  SweepRunOptions options;
  options.executable = exe;
  return run_sweep(spec, runs, options);
}

}  // namespace basin::apps
