// apps: `basin report` and the run folders it reads: the points drawn map
// back to the numbers in run.jsonl, a configuration's line is the mean of its
// seeds with the right band, seeds are grouped (and nothing else is), runs
// that diverged or did not finish are drawn and marked, and the page is one
// self-contained file with a .svg beside it per figure.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "apps/json_writer.h"
#include "apps/report.h"
#include "apps/report_data.h"
#include "apps/run_log.h"
#include "core/error.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::apps;
using basin::test::error_message;
using basin::test::TempDir;

namespace {

using Row = std::map<std::string, double>;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A run folder as the trainer writes it: start line with the flags, epoch and
// step lines, and summary.json unless status is empty (a run still going or killed).
void write_run(const std::string& dir, const std::map<std::string, std::string>& flags, const std::vector<Row>& epochs,
               const std::vector<Row>& steps, const std::string& status) {
  std::filesystem::create_directories(dir);
  std::ofstream log(dir + "/run.jsonl");
  JsonObject flag_obj;
  for (const auto& [k, v] : flags) flag_obj.add(k, v);
  log << JsonObject().add("type", "start").add("realised_noise_rate", 0.4).add_raw("flags", flag_obj.str()).str()
      << "\n";
  size_t s = 0;
  for (const Row& e : epochs) {
    for (; s < steps.size() && steps[s].at("epoch") <= e.at("epoch"); ++s) {
      JsonObject line;
      line.add("type", "step");
      for (const auto& [k, v] : steps[s]) line.add(k, v);
      log << line.str() << "\n";
    }
    JsonObject line;
    line.add("type", "epoch");
    for (const auto& [k, v] : e) line.add(k, v);
    log << line.str() << "\n";
  }
  if (!status.empty()) std::ofstream(dir + "/summary.json") << "{\"status\": \"" << status << "\", \"completed\": true}\n";
}

std::vector<Row> random_epochs(std::mt19937& rng, int n) {
  std::uniform_real_distribution<double> u(0.05, 0.95);
  std::vector<Row> rows;
  for (int e = 1; e <= n; ++e)
    rows.push_back({{"epoch", e}, {"test_acc", u(rng)}, {"memorization", u(rng)}, {"train_loss", 3 * u(rng)},
                    {"test_loss", 3 * u(rng)}, {"train_acc_noisy", u(rng)}, {"lr", 0.1 * u(rng)},
                    {"epoch_s", 10 * u(rng)}, {"images_per_s", 1000 * u(rng)}});
  return rows;
}

std::vector<Row> random_steps(std::mt19937& rng, int epochs, int per_epoch) {
  std::uniform_real_distribution<double> u(0.05, 0.95);
  std::vector<Row> rows;
  for (int e = 1; e <= epochs; ++e)
    for (int k = 0; k < per_epoch; ++k)
      rows.push_back({{"epoch", e}, {"step", (e - 1) * per_epoch * 10 + k * 10}, {"grad_norm", 5 * u(rng)},
                      {"loss", u(rng)}, {"loss_perturbed", u(rng)}});
  return rows;
}

// Tags (up to their '>') that start with `open`, in document order.
std::vector<std::string> tags(const std::string& text, const std::string& open) {
  std::vector<std::string> out;
  for (size_t p = text.find(open); p != std::string::npos; p = text.find(open, p + 1))
    out.push_back(text.substr(p, text.find('>', p) - p));
  return out;
}

std::string attr(const std::string& tag, const std::string& name) {
  const size_t p = tag.find(" " + name + "=\"");
  REQUIRE(p != std::string::npos);
  const size_t b = p + name.size() + 3;
  return tag.substr(b, tag.find('"', b) - b);
}

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  for (double v; in >> v;) out.push_back(v);
  return out;
}

// The points of series `index` in data coordinates, read from the SVG.
struct Drawn {
  std::vector<double> x, y;
  double tol_x = 0, tol_y = 0;  // half a hundredth of a pixel, in data units
};
Drawn drawn_series(const std::string& svg, int index, const std::string& element = "<polyline class=\"series\"") {
  const std::string area = tags(svg, "<g class=\"plot-area\"").at(0);
  const std::vector<double> xr = numbers(attr(area, "data-x-range")), yr = numbers(attr(area, "data-y-range"));
  const std::vector<double> a = numbers(attr(area, "data-area"));
  Drawn d;
  d.tol_x = 0.006 * (xr[1] - xr[0]) / a[2];
  d.tol_y = 0.006 * (yr[1] - yr[0]) / a[3];
  for (const std::string& t : tags(svg, element)) {
    if (attr(t, "data-series") != std::to_string(index)) continue;
    std::string pts = attr(t, "points");
    for (char& c : pts)
      if (c == ',') c = ' ';
    const std::vector<double> v = numbers(pts);
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
      d.x.push_back(xr[0] + (v[i] - a[0]) / a[2] * (xr[1] - xr[0]));
      d.y.push_back(yr[0] + (a[1] + a[3] - v[i + 1]) / a[3] * (yr[1] - yr[0]));
    }
  }
  return d;
}

std::map<std::string, std::string> flags_of(const std::string& optimizer, int seed) {
  return {{"optimizer", optimizer}, {"seed", std::to_string(seed)}, {"epochs", "4"},
          {"out", "runs/" + optimizer + std::to_string(seed)}, {"threads", std::to_string(seed + 1)}};
}

}  // namespace

TEST_CASE("apps: report draws exactly the numbers of run.jsonl, over epochs and over steps") {
  TempDir tmp("basin-report");
  std::mt19937 rng(11);
  const std::vector<Row> epochs = random_epochs(rng, 6), steps = random_steps(rng, 6, 3);
  write_run(tmp.file("run"), flags_of("sam", 0), epochs, steps, "finished");
  ReportOptions opt;
  opt.inputs = {tmp.file("run")};
  opt.out = tmp.file("out/report.html");
  const std::vector<std::string> written = write_report(opt);
  CHECK(written.back() == opt.out);

  const Drawn acc = drawn_series(read_text(figure_file(opt.out, "test_accuracy")), 0);
  REQUIRE(acc.x.size() == epochs.size());
  for (size_t i = 0; i < epochs.size(); ++i) {
    CHECK(std::abs(acc.x[i] - epochs[i].at("epoch")) <= acc.tol_x);
    CHECK(std::abs(acc.y[i] - 100 * epochs[i].at("test_acc")) <= acc.tol_y);
  }
  const Drawn mem = drawn_series(read_text(figure_file(opt.out, "memorization")), 0);
  REQUIRE(mem.y.size() == epochs.size());
  for (size_t i = 0; i < epochs.size(); ++i) CHECK(std::abs(mem.y[i] - 100 * epochs[i].at("memorization")) <= mem.tol_y);
  const Drawn g = drawn_series(read_text(figure_file(opt.out, "grad_norm")), 0);
  REQUIRE(g.x.size() == steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    CHECK(std::abs(g.x[i] - steps[i].at("step")) <= g.tol_x);
    CHECK(std::abs(g.y[i] - steps[i].at("grad_norm")) <= g.tol_y);
  }
  const Drawn gap = drawn_series(read_text(figure_file(opt.out, "loss_gap")), 0);
  REQUIRE(gap.y.size() == steps.size());
  for (size_t i = 0; i < steps.size(); ++i)
    CHECK(std::abs(gap.y[i] - (steps[i].at("loss_perturbed") - steps[i].at("loss"))) <= gap.tol_y);

  // One self-contained page: every figure inline, each also a file, no script, nothing fetched.
  const std::string html = read_text(opt.out);
  const size_t figures = tags(html, "<figure ").size();
  CHECK(figures + 1 == written.size());
  CHECK(tags(html, "<svg ").size() == figures);
  CHECK(html.find("data-figures=\"" + std::to_string(figures) + "\"") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(tags(html, "http").size() == tags(html, "http://www.w3.org/2000/svg").size());  // only the SVG namespace
  CHECK(html.find("fig-perturb_norm") == std::string::npos);  // nothing logged |e|: not drawn, and said so
  CHECK(html.find("no run logged perturb_norm") != std::string::npos);
  CHECK(read_text(figure_file(opt.out, "loss")).rfind("<?xml", 0) == 0);
}

TEST_CASE("apps: report averages a configuration's seeds with a ±1 std or min-max band") {
  TempDir tmp("basin-report");
  std::mt19937 rng(5);
  std::vector<RunLog> runs;
  std::vector<std::vector<Row>> per_seed;
  for (int seed = 0; seed < 3; ++seed) {
    per_seed.push_back(random_epochs(rng, 4));
    write_run(tmp.file("s" + std::to_string(seed)), flags_of("ncsam", seed), per_seed.back(), {}, "finished");
    runs.push_back(read_run(tmp.file("s" + std::to_string(seed))));
  }
  for (const Band band : {Band::Std, Band::MinMax}) {
    ReportOptions opt;
    opt.band = band;
    const Report rep = build_report(runs, opt);
    REQUIRE(rep.groups.size() == 1);
    const std::string svg = rep.figures.at(0).svg;
    REQUIRE(rep.figures.at(0).id == "test_accuracy");
    const Drawn mean = drawn_series(svg, 0);
    const Drawn band_pts = drawn_series(svg, 0, "<polygon class=\"band\"");
    REQUIRE(mean.y.size() == 4);
    REQUIRE(band_pts.y.size() == 8);  // upper edge forward, lower edge back
    for (size_t e = 0; e < 4; ++e) {
      double sum = 0, lo = 1e9, hi = -1e9;
      for (const auto& rows : per_seed) {
        const double v = 100 * rows[e].at("test_acc");
        sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
      }
      const double m = sum / 3;
      double sq = 0;
      for (const auto& rows : per_seed) sq += std::pow(100 * rows[e].at("test_acc") - m, 2);
      const double sd = std::sqrt(sq / 2);  // sample std
      CHECK(std::abs(mean.y[e] - m) <= mean.tol_y);
      CHECK(std::abs(band_pts.y[e] - (band == Band::Std ? m + sd : hi)) <= mean.tol_y);
      CHECK(std::abs(band_pts.y[7 - e] - (band == Band::Std ? m - sd : lo)) <= mean.tol_y);
    }
  }
  // The table: final clean test accuracy as mean ± sample std over the seeds.
  std::vector<double> finals;
  for (const auto& rows : per_seed) finals.push_back(100 * rows.back().at("test_acc"));
  const double m = (finals[0] + finals[1] + finals[2]) / 3;
  const double sd = std::sqrt((std::pow(finals[0] - m, 2) + std::pow(finals[1] - m, 2) + std::pow(finals[2] - m, 2)) / 2);
  char expected[64];
  std::snprintf(expected, sizeof expected, "%.2f ± %.2f", m, sd);
  CHECK(build_report(runs, ReportOptions()).html.find(expected) != std::string::npos);
  const MeanStd one = mean_std({0.5, NAN});
  CHECK(one.n == 1);
  CHECK(one.std == 0);
  CHECK(format_mean_std(mean_std({})) == "–");
}

TEST_CASE("apps: report groups runs that differ only in the seed, and nothing else") {
  TempDir tmp("basin-report");
  std::mt19937 rng(3);
  std::vector<RunLog> runs;
  for (const std::string opt : {"sgd", "sam"})
    for (int seed = 0; seed < 2; ++seed) {
      const std::string dir = tmp.file(opt + std::to_string(seed));
      write_run(dir, flags_of(opt, seed), random_epochs(rng, 2), {}, "finished");
      runs.push_back(read_run(dir));
    }
  std::map<std::string, std::string> longer = flags_of("sgd", 2);
  longer["epochs"] = "8";
  write_run(tmp.file("sgd-long"), longer, random_epochs(rng, 2), {}, "finished");
  runs.push_back(read_run(tmp.file("sgd-long")));

  const std::vector<ConfigGroup> g = group_runs(runs, {"seed"});
  REQUIRE(g.size() == 3);
  CHECK(g[0].runs == std::vector<size_t>{0, 1});  // out and threads differ: not part of the configuration
  CHECK(g[1].runs == std::vector<size_t>{2, 3});
  CHECK(g[2].runs == std::vector<size_t>{4});
  CHECK(g[0].label == "epochs=4, optimizer=sgd");
  CHECK(g[2].label == "epochs=8, optimizer=sgd");
  CHECK(g[1].member_label(runs[3]) == "seed=1");
  // Grouping over nothing keeps every run apart.
  CHECK(group_runs(runs, {}).size() == 5);
  // Grouping over the optimizer too merges sgd and sam of 4 epochs.
  CHECK(group_runs(runs, {"seed", "optimizer"}).size() == 2);
}

// The trainer writes numeric and boolean flags as JSON numbers and booleans
// (`"kappa":0.3`, `"project":false`): they define the configuration as much as
// the string ones. (They were once dropped, which merged an ablation over kappa
// into one curve.)
TEST_CASE("apps: report tells configurations apart by numeric and boolean flags") {
  TempDir tmp("basin-report");
  std::vector<RunLog> runs;
  const char* const variants[] = {"\"kappa\":0,\"project\":true", "\"kappa\":0.3,\"project\":true",
                                  "\"kappa\":0.3,\"project\":false"};
  for (int v = 0; v < 3; ++v)
    for (int seed = 0; seed < 2; ++seed) {
      const std::string dir = tmp.file("v" + std::to_string(v) + "s" + std::to_string(seed));
      std::filesystem::create_directories(dir);
      std::ofstream(dir + "/run.jsonl") << "{\"type\":\"start\",\"flags\":{\"optimizer\":\"ncsam\",\"seed\":" << seed
                                        << ",\"epochs\":1," << variants[v] << "}}\n"
                                        << "{\"type\":\"epoch\",\"epoch\":1,\"test_acc\":0.5}\n";
      runs.push_back(read_run(dir));
    }
  CHECK(runs[1].flags.at("kappa") == "0");
  CHECK(runs[2].flags.at("kappa") == "0.3");
  CHECK(runs[5].flags.at("project") == "false");
  const std::vector<ConfigGroup> g = group_runs(runs, {"seed"});
  REQUIRE(g.size() == 3);
  CHECK(g[0].runs == std::vector<size_t>{0, 1});
  CHECK(g[0].label == "kappa=0, project=true");
  CHECK(g[1].label == "kappa=0.3, project=true");
  CHECK(g[2].label == "kappa=0.3, project=false");
  CHECK(g[2].member_label(runs[5]) == "seed=1");

  // A run logged before the trainer had --project (no such flag in its log)
  // joins the configuration that differs from it in nothing else. The price:
  // in this set --project no longer tells the kappa=0.3 runs apart.
  const std::string old_dir = tmp.file("older");
  std::filesystem::create_directories(old_dir);
  std::ofstream(old_dir + "/run.jsonl") << "{\"type\":\"start\",\"flags\":{\"optimizer\":\"ncsam\",\"seed\":2,"
                                           "\"epochs\":1,\"kappa\":0}}\n{\"type\":\"epoch\",\"epoch\":1,\"test_acc\":0.5}\n";
  runs.push_back(read_run(old_dir));
  const std::vector<ConfigGroup> with_old = group_runs(runs, {"seed"});
  REQUIRE(with_old.size() == 2);
  CHECK(with_old[0].runs == std::vector<size_t>{0, 1, 6});
  CHECK(with_old[1].runs == std::vector<size_t>{2, 3, 4, 5});
}

TEST_CASE("apps: report draws and marks runs that diverged or did not finish") {
  TempDir tmp("basin-report");
  std::mt19937 rng(8);
  std::vector<Row> full = random_epochs(rng, 5), diverged = random_epochs(rng, 3), running = random_epochs(rng, 2);
  diverged[2]["test_acc"] = NAN;  // logged as null
  write_run(tmp.file("sw/a"), flags_of("sam", 0), full, {}, "finished");
  write_run(tmp.file("sw/b"), flags_of("sam", 1), diverged, {}, "diverged");
  write_run(tmp.file("sw/c"), flags_of("sam", 2), running, {}, "");
  write_run(tmp.file("sw/d"), flags_of("sgd", 0), running, {}, "");
  std::filesystem::create_directories(tmp.file("sw/empty"));  // no run.jsonl: not a run
  ReportOptions opt;
  opt.inputs = {tmp.file("sw")};
  opt.out = tmp.file("r.html");
  write_report(opt);
  const std::string html = read_text(opt.out), svg = read_text(figure_file(opt.out, "test_accuracy"));
  CHECK(html.find("seed=1 diverged at epoch 3, seed=2 unfinished at epoch 2") != std::string::npos);
  CHECK(tags(svg, "<g class=\"mark\"").size() == 2);  // both configurations hold an unfinished run
  // The sgd configuration is only an unfinished run: still drawn, to where it stopped.
  const Drawn sgd = drawn_series(svg, 1);
  REQUIRE(sgd.x.size() == 2);
  CHECK(std::abs(sgd.y[1] - 100 * running[1].at("test_acc")) <= sgd.tol_y);
  CHECK(html.find("<td>unfinished</td>") != std::string::npos);
  CHECK(html.find("<td>diverged</td>") != std::string::npos);
  // Epoch 3: the diverged run logged null, so the mean is over the other run alone.
  const Drawn sam = drawn_series(svg, 0);
  REQUIRE(sam.x.size() == 5);
  CHECK(std::abs(sam.y[2] - 100 * full[2].at("test_acc")) <= sam.tol_y);
}

TEST_CASE("apps: run folders are read strictly but survive torn lines and resumed epochs") {
  TempDir tmp("basin-report");
  const std::string dir = tmp.file("run");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/run.jsonl") << "{\"type\":\"start\",\"flags\":{\"seed\":\"3\",\"epochs\":\"4\"}}\n"
                                       "{\"type\":\"epoch\",\"epoch\":1,\"test_acc\":0.1,\"epoch_s\":2}\n"
                                       "{\"type\":\"epoch\",\"epoch\":2,\"test_acc\":0.2,\"epoch_s\":2}\n"
                                       "{\"type\":\"epoch\",\"epoch\":2,\"test_acc\":0.25,\"epoch_s\":3}\n"
                                       "{\"type\":\"epoch\",\"epoch\":3,\"test_acc\":0.3,\"memorization\":0.5}\n"
                                       "{\"type\":\"ep";
  std::ofstream(dir + "/summary.json") << "{\"completed\": false}";
  const RunLog r = read_run(dir);
  CHECK(r.epochs.column("test_acc") == std::vector<double>{0.1, 0.25, 0.3});  // the resumed copy of epoch 2 wins
  CHECK(r.epochs_done() == 3);
  CHECK(r.epochs_planned == 4);
  CHECK(r.status == "interrupted");
  CHECK(r.best_test_acc == 0.3);
  CHECK(r.final_memorization == 0.5);
  CHECK(r.train_time_s == 5);
  CHECK(std::isnan(r.epochs.column("memorization")[0]));
  CHECK(!r.epochs.has("nothing"));

  std::ofstream(dir + "/run.jsonl") << "{\"type\":\"start\"}\n{\"type\":\"epoch\",\"epoch\":1,}\n{}\n";
  CHECK(error_message([&] { read_run(dir); }).find("run.jsonl line 2") != std::string::npos);
  CHECK(error_message([&] { find_run_dirs({tmp.file("nowhere")}); }).find("not a folder") != std::string::npos);
  std::filesystem::create_directories(tmp.file("empty"));
  CHECK(error_message([&] { find_run_dirs({tmp.file("empty")}); }).find("holds no run.jsonl") != std::string::npos);
}

TEST_CASE("apps: report finds a sweep's runs in the manifest's order") {
  TempDir tmp("basin-report");
  for (const std::string name : {"a", "b", "c"}) {
    std::filesystem::create_directories(tmp.file("sw/" + name));
    std::ofstream(tmp.file("sw/" + name + "/run.jsonl")) << "{\"type\":\"start\"}\n";
  }
  std::ofstream(tmp.file("sw/sweep.json")) << "{\"runs\": [{\"name\": \"c\"}, {\"name\": \"a\"}, {\"name\": \"x\"}]}";
  const std::vector<std::string> dirs = find_run_dirs({tmp.file("sw")});
  REQUIRE(dirs.size() == 3);
  CHECK(dirs[0] == tmp.file("sw/c"));
  CHECK(dirs[1] == tmp.file("sw/a"));
  CHECK(dirs[2] == tmp.file("sw/b"));  // not in the manifest: after the listed ones
}

TEST_CASE("apps: report splits train accuracy into right- and wrong-label samples when the run logs them") {
  TempDir tmp("basin-report");
  std::mt19937 rng(21);
  std::vector<Row> epochs = random_epochs(rng, 3);
  std::uniform_real_distribution<double> u(0.1, 0.9);
  for (Row& r : epochs) r["train_acc_right_labels"] = u(rng), r["train_acc_wrong_labels"] = u(rng);
  write_run(tmp.file("run"), flags_of("ncsam", 0), epochs, {}, "finished");
  const Report rep = build_report({read_run(tmp.file("run"))}, ReportOptions());
  const auto fig = std::find_if(rep.figures.begin(), rep.figures.end(),
                                [](const ReportFigure& f) { return f.id == "train_accuracy_split"; });
  REQUIRE(fig != rep.figures.end());
  CHECK(fig->svg.find("do not log") == std::string::npos);
  const Drawn right = drawn_series(fig->svg, 0), wrong = drawn_series(fig->svg, 1);
  REQUIRE(right.y.size() == 3);
  REQUIRE(wrong.y.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(std::abs(right.y[i] - 100 * epochs[i].at("train_acc_right_labels")) <= right.tol_y);
    CHECK(std::abs(wrong.y[i] - 100 * epochs[i].at("train_acc_wrong_labels")) <= wrong.tol_y);
  }
  CHECK(fig->svg.find("right-label samples") != std::string::npos);
}
