// Run folder files; see run_folder.h.
#include "apps/run_folder.h"

#include <filesystem>
#include <fstream>

#include "apps/checkpoint.h"
#include "core/error.h"
#include "core/json.h"

namespace basin::apps {
namespace fs = std::filesystem;

bool holds_run(const std::string& dir) {
  for (const char* name : {kRunLogFile, kSummaryFile, kCheckpointFile})
    if (fs::exists(fs::path(dir) / name)) return true;
  return false;
}

void remove_run_files(const std::string& dir) {
  if (!fs::is_directory(dir)) return;
  for (const char* name : {kRunLogFile, kSummaryFile, kCheckpointFile}) fs::remove(fs::path(dir) / name);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) == 0 && entry.path().extension() == ".safetensors") fs::remove(entry.path());
  }
}

RunStatus read_run_status(const std::string& dir) {
  RunStatus s;
  const fs::path path = fs::path(dir) / kSummaryFile;
  if (!fs::exists(path)) return s;
  try {
    const json::Value v = json::parse_file(path.string());
    if (const json::Value* status = v.find("status")) s.status = status->as_string();
    if (const json::Value* step = v.find("diverged_step")) s.step = step->as_int64();
    if (const json::Value* reason = v.find("reason")) s.reason = reason->as_string();
  } catch (const Error&) {
    return RunStatus{};  // an older or damaged summary says nothing reliable
  }
  return s;
}

namespace {

// The global step count a log line describes the state after, or -1 for a
// line that belongs to no position (the start line).
int64_t position_of(const json::Value& line) {
  const json::Value* step = line.find("step");
  if (step == nullptr || !step->is_number()) return -1;
  const json::Value* type = line.find("type");
  const bool step_taken = type && type->is_string() && (type->as_string() == "step" || type->as_string() == "skip");
  // A step line carries the index of the step it took: the state after it is one further.
  return step->as_int64() + (step_taken ? 1 : 0);
}

}  // namespace

LogCut cut_log_at_step(const std::string& path, int64_t step) {
  LogCut cut;
  std::ifstream in(path);
  if (!in) return cut;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      const json::Value v = json::parse(line, cat(path, " line ", number));
      if (position_of(v) > step) {
        ++cut.dropped;
        continue;
      }
    } catch (const Error&) {
      ++cut.dropped;  // torn by a kill in the middle of a write
      continue;
    }
    cut.kept.push_back(line);
  }
  return cut;
}

}  // namespace basin::apps
