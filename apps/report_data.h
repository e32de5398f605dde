// The numbers behind `basin report`: runs grouped into configurations (runs
// that differ only in --group-over flags, e.g. the seed), curves averaged
// over a configuration's runs with a band, and mean ± std of scalars.
#pragma once
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "apps/run_log.h"

namespace basin::apps {

// Runs that share every flag that shapes training, except the group_over ones.
struct ConfigGroup {
  std::string label;                       // the flags that tell the groups apart, "optimizer=sam, noise=sym:0.4"
  std::map<std::string, std::string> key;  // the flags that define the configuration
  std::vector<size_t> runs;                // indices into the runs given to group_runs
  std::string member_label(const RunLog& run) const;  // "seed=1" (its group_over flags), else the folder name
  std::vector<std::string> group_over;
};

// Groups in order of first appearance. Flags that do not shape the training
// (out, resume, threads, device, logging and evaluation cadence) are ignored.
std::vector<ConfigGroup> group_runs(const std::vector<RunLog>& runs, const std::vector<std::string>& group_over);

enum class Band { Std, MinMax };
Band parse_band(const std::string& text);  // "std" | "minmax"
std::string band_description(Band band);   // "±1 std (sample, n-1) over the runs"

// One curve per run (x, y) -> at every x of their union (sorted), the mean of
// the runs with a finite y there, and the band: mean ± sample std, or min..max.
struct Aggregate {
  std::vector<double> x, mean, low, high;
  std::vector<int> count;  // runs contributing at each x
};
struct Curve {
  std::vector<double> x, y;
};
Aggregate aggregate(const std::vector<Curve>& curves, Band band);

struct MeanStd {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();  // sample std (n - 1); 0 for one value
  int n = 0;
};
MeanStd mean_std(const std::vector<double>& values);  // over the finite values
// "85.21 ± 0.43" (scaled by `scale`), "85.21" for one value, "–" for none.
std::string format_mean_std(const MeanStd& m, double scale = 1, int decimals = 2);

}  // namespace basin::apps
