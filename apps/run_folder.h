// The files of a run folder (run.jsonl, summary.json, checkpoint.safetensors)
// and the rules that keep a run from being overwritten by accident: a folder
// that holds a run is only reused by --resume or --overwrite, and a resumed
// run.jsonl is cut back to the checkpoint it continues from.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace basin::apps {

constexpr const char* kRunLogFile = "run.jsonl";
constexpr const char* kSummaryFile = "summary.json";

// True when `dir` holds any of a run's files.
bool holds_run(const std::string& dir);
// --overwrite: removes the run's files (and step_*.safetensors dumps) from
// `dir`, leaving anything else there alone.
void remove_run_files(const std::string& dir);

// What summary.json says about how a run ended; status "" when there is no
// summary (a run killed before it wrote one) or it cannot be read.
struct RunStatus {
  std::string status;  // finished | diverged | interrupted
  int64_t step = -1;   // diverged: the step that failed
  std::string reason;
};
RunStatus read_run_status(const std::string& dir);

// The lines of a run.jsonl that describe the run up to global step `step`
// (the checkpoint's position): later step, skip, epoch and end lines are
// dropped, and so is a line torn by a kill. A missing file gives no lines.
struct LogCut {
  std::vector<std::string> kept;
  int64_t dropped = 0;
};
LogCut cut_log_at_step(const std::string& path, int64_t step);

}  // namespace basin::apps
