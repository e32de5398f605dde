// Run folders read back; see run_log.h.
#include "apps/run_log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace basin::apps {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Appends one log line's numbers (booleans as 0/1) as a row.
void add_row(LogTable& t, const json::Value& line) {
  for (const auto& [key, value] : line.members()) {
    double v;
    if (value.is_number()) v = value.as_double();
    else if (value.is_bool()) v = value.as_bool() ? 1 : 0;
    else if (value.is_null()) v = kNaN;
    else continue;
    std::vector<double>& col = t.columns[key];
    col.resize(t.rows, kNaN);
    col.push_back(v);
  }
  ++t.rows;
  for (auto& [key, col] : t.columns) col.resize(t.rows, kNaN);
}

// Drops the rows whose `key` is >= `from` (a resumed run redoing them).
void truncate_from(LogTable& t, const std::string& key, double from) {
  const auto it = t.columns.find(key);
  if (it == t.columns.end()) return;
  size_t keep = 0;
  while (keep < t.rows && !(it->second[keep] >= from)) ++keep;
  if (keep == t.rows) return;
  for (auto& [k, col] : t.columns) col.resize(keep);
  t.rows = keep;
}

// A run's flags as text. Numbers and booleans count too: runs that differ only in
// --kappa 0 and 0.3 are different configurations (%.15g prints 0.4 as "0.4").
std::map<std::string, std::string> string_members(const json::Value& object) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : object.members()) {
    if (value.is_string()) {
      out[key] = value.as_string();
    } else if (value.is_bool()) {
      out[key] = value.as_bool() ? "true" : "false";
    } else if (value.is_number()) {
      char text[32];
      std::snprintf(text, sizeof text, "%.15g", value.as_double());
      out[key] = text;
    }
  }
  return out;
}

}  // namespace

bool LogTable::has(const std::string& key) const {
  const auto it = columns.find(key);
  if (it == columns.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [](double v) { return std::isfinite(v); });
}

std::vector<double> LogTable::column(const std::string& key) const {
  const auto it = columns.find(key);
  return it == columns.end() ? std::vector<double>(rows, kNaN) : it->second;
}

int64_t RunLog::epochs_done() const {
  const std::vector<double> e = epochs.column("epoch");
  return e.empty() || !std::isfinite(e.back()) ? 0 : static_cast<int64_t>(e.back());
}

std::string summary_status(const std::string& dir, std::string* problem) {
  const fs::path path = fs::path(dir) / "summary.json";
  if (!fs::is_regular_file(path)) return "";
  try {
    const json::Value s = json::parse_file(path.string());
    if (const json::Value* st = s.find("status"); st && st->is_string()) return st->as_string();
    if (const json::Value* done = s.find("completed"); done && done->is_bool())
      return done->as_bool() ? "finished" : "interrupted";
  } catch (const Error& e) {
    if (problem) *problem = cat("summary.json unreadable (", e.what(), ")");
  }
  return "";
}

RunLog read_run(const std::string& dir) {
  RunLog r;
  r.dir = dir;
  r.name = fs::path(dir).lexically_normal().filename().string();
  if (r.name.empty()) r.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  const fs::path log = fs::path(dir) / "run.jsonl";
  BASIN_CHECK(fs::is_regular_file(log), "run folder '", dir, "': no run.jsonl");
  for (const json::Value& line : json::parse_lines_file(log.string(), true)) {
    const json::Value* type = line.find("type");
    if (!type || !type->is_string()) continue;
    if (type->as_string() == "start") {
      if (const json::Value* f = line.find("flags"); f && f->is_object()) r.flags = string_members(*f);
      if (const json::Value* n = line.find("realised_noise_rate"); n && n->is_number())
        r.realised_noise_rate = n->as_double();
    } else if (type->as_string() == "epoch") {
      truncate_from(r.epochs, "epoch", line.at("epoch").as_double());
      add_row(r.epochs, line);
    } else if (type->as_string() == "step") {
      truncate_from(r.steps, "step", line.at("step").as_double());
      add_row(r.steps, line);
    }
  }
  std::string problem;
  r.status = summary_status(dir, &problem);
  if (r.status.empty()) r.status = "unfinished";
  if (r.flags.empty() && fs::is_regular_file(fs::path(dir) / "summary.json") && problem.empty()) {
    const json::Value s = json::parse_file((fs::path(dir) / "summary.json").string());
    if (const json::Value* f = s.find("flags"); f && f->is_object()) r.flags = string_members(*f);
  }
  if (const auto it = r.flags.find("epochs"); it != r.flags.end()) r.epochs_planned = std::atoll(it->second.c_str());

  const std::vector<double> acc = r.epochs.column("test_acc"), mem = r.epochs.column("memorization");
  for (const double a : acc)
    if (std::isfinite(a)) r.best_test_acc = std::max(r.best_test_acc, a), r.final_test_acc = a;
  for (const double m : mem)
    if (std::isfinite(m)) r.final_memorization = m;
  int64_t n = 0;
  double ips = 0;
  const std::vector<double> epoch_s = r.epochs.column("epoch_s"), speed = r.epochs.column("images_per_s");
  for (size_t i = 0; i < r.epochs.rows; ++i) {
    const double s = epoch_s[i], v = speed[i];
    if (std::isfinite(s)) r.train_time_s += s;
    if (std::isfinite(v)) ips += v, ++n;
  }
  r.images_per_s = n ? ips / static_cast<double>(n) : 0;
  return r;
}

std::vector<std::string> find_run_dirs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    BASIN_CHECK(fs::is_directory(p), "'", p, "' is not a folder (expected a run folder or a sweep folder)");
    if (fs::is_regular_file(fs::path(p) / "run.jsonl")) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    const fs::path manifest = fs::path(p) / "sweep.json";
    std::set<std::string> listed;
    if (fs::is_regular_file(manifest)) {  // the sweep's order: the grid's
      const json::Value m = json::parse_file(manifest.string());
      for (const json::Value& run : m.at("runs").as_array()) {
        const fs::path dir = fs::path(p) / run.at("name").as_string();
        listed.insert(dir.string());
        if (fs::is_regular_file(dir / "run.jsonl")) found.push_back(dir.string());
      }
    }
    std::vector<std::string> others;
    for (const fs::directory_entry& e : fs::directory_iterator(p))
      if (e.is_directory() && fs::is_regular_file(e.path() / "run.jsonl") && !listed.count(e.path().string()))
        others.push_back(e.path().string());
    std::sort(others.begin(), others.end());
    found.insert(found.end(), others.begin(), others.end());
    BASIN_CHECK(!found.empty(), "'", p, "' holds no run.jsonl, neither itself nor in a sub-folder "
                "(expected a run folder or a sweep folder)");
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace basin::apps
