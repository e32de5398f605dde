// A training run folder read back: run.jsonl's epoch and step lines as
// numeric columns, the run's flags, and its status from summary.json (read
// tolerantly: "status" when present, else "completed"; no summary at all means
// the run is unfinished). For `basin report`, and for anything else that
// analyses runs after the fact.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace basin::apps {

// Rows of one line type; a field a row lacks (or logs as null) is NaN there.
struct LogTable {
  size_t rows = 0;
  std::map<std::string, std::vector<double>> columns;
  bool has(const std::string& key) const;  // a column with at least one finite value
  std::vector<double> column(const std::string& key) const;  // NaN-filled when absent
};

struct RunLog {
  std::string dir;
  std::string name;                         // the folder's name
  std::map<std::string, std::string> flags; // the train flags it ran with (start line, else summary.json)
  std::string status;                       // finished | diverged | interrupted | unfinished
  LogTable epochs;                          // "type": "epoch" lines, by epoch
  LogTable steps;                           // "type": "step" lines, by step
  double realised_noise_rate = 0;
  int64_t epochs_planned = 0;               // --epochs (0 when unknown)
  // Derived from the epoch lines: -1 when the run never evaluated.
  double best_test_acc = -1, final_test_acc = -1, final_memorization = -1;
  double train_time_s = 0;                  // sum of epoch_s (over resumes too)
  double images_per_s = 0;                  // mean over epochs
  int64_t epochs_done() const;
  bool is_finished() const { return status == "finished"; }
};

// summary.json's verdict: its "status" when present, else "completed" as
// finished / interrupted; "" without a summary. An unreadable summary gives ""
// and says why in *problem.
std::string summary_status(const std::string& dir, std::string* problem = nullptr);

// Throws basin::Error naming the file and line when run.jsonl is missing or
// malformed (a torn last line, from a run stopped mid-write, is ignored).
// Epochs a resumed run logged twice keep their last copy.
RunLog read_run(const std::string& dir);

// Run folders (holding run.jsonl) given directly or inside sweep folders (their
// sub-folders, in sweep.json's order when there is one, else by name).
// Throws for a path that is neither.
std::vector<std::string> find_run_dirs(const std::vector<std::string>& paths);

}  // namespace basin::apps
