// Grouping and statistics of `basin report`; see report_data.h.
#include "apps/report_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/error.h"

namespace basin::apps {
namespace {

// Train flags that change where and how a run is logged, not what it learns.
const std::set<std::string>& not_configuration() {
  static const std::set<std::string> flags = {"out",      "resume",        "threads",         "quiet",
                                              "stop-after", "log-every",   "dump-step",       "eval-every",
                                              "eval-batch-size", "device", "deterministic"};
  return flags;
}

}  // namespace

std::string ConfigGroup::member_label(const RunLog& run) const {
  std::string out;
  for (const std::string& flag : group_over)
    if (const auto it = run.flags.find(flag); it != run.flags.end())
      out += (out.empty() ? "" : ",") + flag + "=" + it->second;
  return out.empty() ? run.name : out;
}

std::vector<ConfigGroup> group_runs(const std::vector<RunLog>& runs, const std::vector<std::string>& group_over) {
  const std::set<std::string> over(group_over.begin(), group_over.end());
  // Only flags that every run records define a configuration: a flag added to
  // the trainer after a run was made is missing from that run's log, and the run
  // trained with its default (runs of one study made before and after
  // `--method` was added are the same configuration).
  std::map<std::string, size_t> recorded_by;
  size_t with_flags = 0;
  for (const RunLog& run : runs) {
    if (run.flags.empty()) continue;
    ++with_flags;
    for (const auto& [flag, value] : run.flags) ++recorded_by[flag];
  }
  std::vector<ConfigGroup> groups;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::map<std::string, std::string> key;
    for (const auto& [flag, value] : runs[i].flags)
      if (!over.count(flag) && !not_configuration().count(flag) && recorded_by[flag] == with_flags) key[flag] = value;
    // A run without recorded flags cannot be matched with others: its own group.
    if (runs[i].flags.empty()) key["(run)"] = runs[i].dir;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const ConfigGroup& g) { return g.key == key; });
    if (it == groups.end()) {
      groups.push_back({"", key, {}, group_over});
      it = groups.end() - 1;
    }
    it->runs.push_back(i);
  }
  // Label each group by the flags whose values differ between groups.
  std::set<std::string> all_flags;
  for (const ConfigGroup& g : groups)
    for (const auto& [flag, value] : g.key) all_flags.insert(flag);
  std::vector<std::string> differing;
  for (const std::string& flag : all_flags) {
    std::set<std::string> values;
    for (const ConfigGroup& g : groups) values.insert(g.key.count(flag) ? g.key.at(flag) : "");
    if (values.size() > 1) differing.push_back(flag);
  }
  for (ConfigGroup& g : groups) {
    if (g.key.count("(run)")) {
      g.label = runs[g.runs[0]].name;
      continue;
    }
    for (const std::string& flag : differing)
      g.label += (g.label.empty() ? "" : ", ") + flag + "=" + (g.key.count(flag) ? g.key.at(flag) : "(unset)");
    if (g.label.empty()) g.label = g.key.count("optimizer") ? "optimizer=" + g.key.at("optimizer") : "all runs";
  }
  return groups;
}

Band parse_band(const std::string& text) {
  if (text == "std") return Band::Std;
  if (text == "minmax") return Band::MinMax;
  fail(cat("flag --band: expected std or minmax, got '", text, "'"));
}

std::string band_description(Band band) {
  return band == Band::Std ? "mean ± 1 std (sample std, n−1) over a configuration's runs"
                           : "mean, band from min to max over a configuration's runs";
}

Aggregate aggregate(const std::vector<Curve>& curves, Band band) {
  std::vector<double> xs;
  for (const Curve& c : curves)
    for (const double x : c.x)
      if (std::isfinite(x)) xs.push_back(x);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  Aggregate a;
  for (const double x : xs) {
    std::vector<double> ys;
    for (const Curve& c : curves)
      for (size_t i = 0; i < c.x.size() && i < c.y.size(); ++i)
        if (c.x[i] == x && std::isfinite(c.y[i])) {
          ys.push_back(c.y[i]);
          break;
        }
    const MeanStd m = mean_std(ys);
    a.x.push_back(x);
    a.mean.push_back(m.mean);
    a.count.push_back(m.n);
    if (band == Band::Std) {
      a.low.push_back(m.mean - m.std);
      a.high.push_back(m.mean + m.std);
    } else {
      a.low.push_back(ys.empty() ? m.mean : *std::min_element(ys.begin(), ys.end()));
      a.high.push_back(ys.empty() ? m.mean : *std::max_element(ys.begin(), ys.end()));
    }
  }
  return a;
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0;
  for (const double v : values)
    if (std::isfinite(v)) sum += v, ++m.n;
  if (m.n == 0) return m;
  m.mean = sum / m.n;
  double sq = 0;
  for (const double v : values)
    if (std::isfinite(v)) sq += (v - m.mean) * (v - m.mean);
  m.std = m.n > 1 ? std::sqrt(sq / (m.n - 1)) : 0.0;
  return m;
}

std::string format_mean_std(const MeanStd& m, double scale, int decimals) {
  if (m.n == 0) return "–";
  char buf[64];
  if (m.n == 1) std::snprintf(buf, sizeof buf, "%.*f", decimals, m.mean * scale);
  else std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, m.mean * scale, decimals, m.std * scale);
  return buf;
}

}  // namespace basin::apps
