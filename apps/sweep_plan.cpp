// The plan of `basin sweep`; see sweep_plan.h.
#include "apps/sweep_plan.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "apps/checkpoint.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/run_log.h"
#include "apps/train_flags.h"
#include "apps/version.h"
#include "core/json.h"
#include "core/error.h"

namespace basin::apps {
namespace {

// Train flags the sweep sets per run (out, resume) or splits itself (threads).
const std::set<std::string>& sweep_owned_train_flags() {
  static const std::set<std::string> owned = {"out", "resume", "threads"};
  return owned;
}

// The sweep's own flags, for --help (parsing is by hand: --grid repeats and
// every other flag is forwarded to `basin train`).
Flags sweep_flags() {
  Flags f("sweep", "Train every configuration of a grid of `basin train` flags, one run folder each; "
                   "stop and rerun the same command to continue.\n"
                   "usage: basin sweep --out DIR --grid FLAG=V1,V2 [--grid ...] [train flags] [--jobs k]\n"
                   "Every other flag is a `basin train` flag common to all runs (basin train --help).");
  f.add("out", "", "the sweep folder: sweep.json, sweep.jsonl and one run folder per configuration (required)");
  f.add("grid", "", "FLAG=V1,V2,...: a train flag and its values (repeat for more axes; a comma inside a value: \\,)");
  f.add("jobs", "1", "runs trained at once (child processes)");
  f.add("threads", "0", "CPU threads in all, split evenly between the jobs (0: every core)");
  f.add_bool("dry-run", "list the runs, what each folder holds (new / resume / finished / diverged) and the "
                        "command of each; run nothing");
  return f;
}

std::string settings_json(const Settings& settings) {
  JsonObject o;
  for (const auto& [flag, value] : settings) o.add(flag, value);
  return o.str();
}

std::string strings_json(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + json::quote(values[i]);
  return out + "]";
}

}  // namespace

GridAxis parse_grid_axis(const std::string& text) {
  const size_t eq = text.find('=');
  BASIN_CHECK(eq != std::string::npos && eq > 0, "--grid '", text, "': expected FLAG=V1,V2,...");
  GridAxis axis;
  axis.flag = text.substr(0, eq);
  if (axis.flag.rfind("--", 0) == 0) axis.flag = axis.flag.substr(2);
  std::string value;
  const std::string list = text.substr(eq + 1);
  BASIN_CHECK(!list.empty(), "--grid ", axis.flag, ": empty value list (expected FLAG=V1,V2,...)");
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i + 1 < list.size() && list[i] == '\\' && list[i + 1] == ',') {
      value += ',';
      ++i;
    } else if (i == list.size() || list[i] == ',') {
      BASIN_CHECK(!value.empty(), "--grid ", axis.flag, ": empty value in '", list, "'");
      for (const std::string& v : axis.values)
        BASIN_CHECK(v != value, "--grid ", axis.flag, ": value '", value, "' is listed twice");
      axis.values.push_back(value);
      value.clear();
    } else {
      value += list[i];
    }
  }
  return axis;
}

std::string run_name(const Settings& settings) {
  if (settings.empty()) return "base";
  std::string out;
  for (const auto& [flag, value] : settings) out += (out.empty() ? "" : ",") + flag + "=" + value;
  for (char& c : out) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '+' || c == '=' || c == ',' || c == '-';
    if (!safe) c = '_';
  }
  return out;
}

std::vector<RunConfig> expand_grid(const std::vector<GridAxis>& axes) {
  std::vector<Settings> combos = {{}};
  for (const GridAxis& axis : axes) {
    std::vector<Settings> next;
    for (const Settings& prefix : combos)
      for (const std::string& value : axis.values) {
        Settings s = prefix;
        s.push_back({axis.flag, value});
        next.push_back(std::move(s));
      }
    combos = std::move(next);
  }
  std::vector<RunConfig> runs;
  for (Settings& s : combos) {
    RunConfig r;
    r.name = run_name(s);
    r.settings = std::move(s);
    runs.push_back(std::move(r));
  }
  return runs;
}

std::string sweep_help() { return sweep_flags().help(); }

SweepSpec parse_sweep_args(int argc, char** argv) {
  SweepSpec spec;
  Flags own = sweep_flags();
  std::vector<std::string> own_args = {"sweep"}, forwarded = {"train"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    spec.command_line.push_back(arg);
    if (arg == "--help" || arg == "-h") {
      std::fputs(sweep_help().c_str(), stdout);
      spec.help = true;
      return spec;
    }
    const bool is_flag = arg.rfind("--", 0) == 0;
    const std::string name = is_flag ? arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos
                                                                                          : arg.find('=') - 2)
                                     : std::string();
    const bool inline_value = arg.find('=') != std::string::npos;
    if (name == "grid") {
      std::string value = inline_value ? arg.substr(arg.find('=') + 1) : std::string();
      if (!inline_value) {
        BASIN_CHECK(i + 1 < argc, "flag --grid needs a value (FLAG=V1,V2,...)");
        value = argv[++i];
        spec.command_line.push_back(value);
      }
      spec.grid.push_back(parse_grid_axis(value));
    } else if (name == "out" || name == "jobs" || name == "threads" || name == "dry-run" || name == "no-dry-run") {
      own_args.push_back(arg);
      if (!inline_value && name != "dry-run" && name != "no-dry-run" && i + 1 < argc) {
        own_args.push_back(argv[++i]);
        spec.command_line.push_back(own_args.back());
      }
    } else {
      forwarded.push_back(arg);  // a train flag, or the value of the one before it
    }
  }
  std::vector<char*> own_argv;
  for (std::string& s : own_args) own_argv.push_back(s.data());
  own.parse(static_cast<int>(own_argv.size()), own_argv.data());
  spec.out = own.str("out");
  BASIN_CHECK(!spec.out.empty(), "flag --out: the sweep folder is required");
  spec.jobs = own.i64("jobs");
  BASIN_CHECK(spec.jobs >= 1, "flag --jobs: must be >= 1, got ", spec.jobs);
  spec.threads = own.i64("threads");
  BASIN_CHECK(spec.threads >= 0, "flag --threads: must be >= 0, got ", spec.threads);
  spec.dry_run = own.on("dry-run");

  Flags train("train", "");
  declare_train_flags(train);
  std::vector<char*> train_argv;
  for (std::string& s : forwarded) train_argv.push_back(s.data());
  try {
    train.parse(static_cast<int>(train_argv.size()), train_argv.data());
  } catch (const Error& e) {
    fail(cat("train flags: ", e.what()));
  }
  for (const auto& [name, value] : train.values()) {
    if (!train.given(name)) continue;
    BASIN_CHECK(!sweep_owned_train_flags().count(name), "flag --", name,
                " is set by the sweep for each run; it cannot be a common train flag");
    spec.common[name] = value;
  }
  std::set<std::string> seen;
  for (const GridAxis& axis : spec.grid) {
    BASIN_CHECK(train.has(axis.flag), "--grid ", axis.flag, ": unknown train flag --", axis.flag,
                " (see basin train --help)");
    BASIN_CHECK(!sweep_owned_train_flags().count(axis.flag), "--grid ", axis.flag,
                ": the sweep sets this flag itself; it cannot be a grid axis");
    BASIN_CHECK(seen.insert(axis.flag).second, "--grid ", axis.flag, ": given twice (put all values in one --grid)");
    BASIN_CHECK(!spec.common.count(axis.flag), "--grid ", axis.flag, ": also given as a common flag --",
                axis.flag, "=", spec.common.at(axis.flag));
  }
  return spec;
}

std::vector<std::string> train_args(const SweepSpec& spec, const RunConfig& run) {
  std::vector<std::string> args;
  for (const auto& [flag, value] : spec.common) args.push_back("--" + flag + "=" + value);
  for (const auto& [flag, value] : run.settings) args.push_back("--" + flag + "=" + value);
  return args;
}

std::vector<RunConfig> plan_runs(const SweepSpec& spec) {
  std::vector<RunConfig> runs = expand_grid(spec.grid);
  std::set<std::string> names;
  for (const RunConfig& run : runs)
    BASIN_CHECK(names.insert(run.name).second, "configuration '", run.name,
                "': two configurations get this folder name (values differing only in characters "
                "outside [A-Za-z0-9._+=,-])");
  for (RunConfig& run : runs) {
    std::vector<std::string> args = train_args(spec, run);
    args.insert(args.begin(), "train");
    args.push_back("--out=" + (std::filesystem::path(spec.out) / run.name).string());
    std::vector<char*> argv;
    for (std::string& s : args) argv.push_back(s.data());
    Flags f("train", "");
    declare_train_flags(f);
    try {
      f.parse(static_cast<int>(argv.size()), argv.data());
      run.epochs = train_config_from_flags(f).epochs;
    } catch (const Error& e) {
      fail(cat("configuration '", run.name, "': ", e.what()));
    }
  }
  return runs;
}

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::New: return "new";
    case RunState::Resume: return "resume";
    case RunState::Finished: return "finished";
    case RunState::Diverged: return "diverged";
  }
  return "?";
}

RunFolder inspect_run_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  RunFolder rf;
  if (!fs::is_directory(dir)) return rf;
  const fs::path log = fs::path(dir) / "run.jsonl";
  if (fs::is_regular_file(log)) {
    try {
      for (const json::Value& line : json::parse_lines_file(log.string(), true))
        if (const json::Value* type = line.find("type"); type && type->is_string() && type->as_string() == "epoch")
          rf.epochs_logged = line.at("epoch").as_int64();
    } catch (const Error& e) {
      rf.note = cat("run.jsonl unreadable (", e.what(), "); ");
    }
  }
  std::string problem;
  const std::string status = summary_status(dir, &problem);
  if (!problem.empty()) rf.note += problem + "; ";
  if (status == "finished") rf.state = RunState::Finished;
  else if (status == "diverged") rf.state = RunState::Diverged;
  else if (fs::is_regular_file(fs::path(dir) / kCheckpointFile)) rf.state = RunState::Resume;
  else if (fs::exists(log)) rf.note += "no checkpoint yet: starts over";
  return rf;
}

std::string manifest_json(const SweepSpec& spec, const std::vector<RunConfig>& runs) {
  std::string grid = "[";
  for (size_t i = 0; i < spec.grid.size(); ++i)
    grid += (i ? "," : "") + JsonObject().add("flag", spec.grid[i].flag)
                                 .add_raw("values", strings_json(spec.grid[i].values)).str();
  grid += "]";
  std::string run_list = "[";
  for (size_t i = 0; i < runs.size(); ++i)
    run_list += (i ? "," : "") + JsonObject().add("name", runs[i].name)
                                     .add_raw("settings", settings_json(runs[i].settings)).str();
  run_list += "]";
  JsonObject common;
  for (const auto& [flag, value] : spec.common) common.add(flag, value);
  JsonObject m;
  m.add("format", "basin-sweep-1").add("basin_version", kBasinVersion).add_raw("command", strings_json(spec.command_line))
      .add_raw("grid", grid).add_raw("common", common.str()).add("jobs", spec.jobs).add("threads", spec.threads)
      .add_raw("runs", run_list);
  return m.str() + "\n";
}

void check_manifest_compatible(const std::string& path, const SweepSpec& spec) {
  if (!std::filesystem::exists(path)) return;
  const json::Value m = json::parse_file(path);
  std::map<std::string, std::string> saved;
  for (const auto& [flag, value] : m.at("common").members()) saved[flag] = value.as_string();
  if (saved == spec.common) return;
  auto show = [](const std::map<std::string, std::string>& flags) {
    std::string out;
    for (const auto& [flag, value] : flags) out += " --" + flag + "=" + value;
    return out.empty() ? std::string(" (none)") : out;
  };
  fail(cat(path, ": this sweep folder was started with the common train flags", show(saved),
           " but this command gives", show(spec.common),
           "; its finished runs would not match. Use the same flags, or another --out"));
}

}  // namespace basin::apps
