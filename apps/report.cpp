// `basin report`; see report.h. The figure list below is the whole content
// policy: which run.jsonl field each figure draws, its axis label and unit.
#include "apps/report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/commands.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/svg_plot.h"
#include "core/error.h"

namespace basin::apps {
namespace {

namespace fs = std::filesystem;
using svg::xml_escape;

struct CurveSpec {
  std::string field;   // a run.jsonl field (or a derived one, see derive_columns)
  std::string suffix;  // appended to the configuration's label when a figure has several curves
  bool dashed = false;
};

struct FigureSpec {
  std::string id, title, y_label;
  bool over_steps = false;
  double scale = 1;    // 100 for fractions shown in %
  std::vector<CurveSpec> curves;
  std::string note;
};

// Columns computed from logged ones, so figures can treat them as fields.
void derive_columns(RunLog& run) {
  if (run.steps.has("loss_perturbed") && run.steps.has("loss")) {
    const std::vector<double> lp = run.steps.column("loss_perturbed"), l = run.steps.column("loss");
    std::vector<double> gap(lp.size());
    for (size_t i = 0; i < lp.size(); ++i) gap[i] = lp[i] - l[i];
    run.steps.columns["loss_gap"] = gap;
  }
}

bool any_has(const std::vector<RunLog>& runs, bool steps, const std::string& field) {
  for (const RunLog& r : runs)
    if ((steps ? r.steps : r.epochs).has(field)) return true;
  return false;
}

std::vector<FigureSpec> figure_specs(const std::vector<RunLog>& runs) {
  std::vector<FigureSpec> f;
  f.push_back({"test_accuracy", "Clean test accuracy", "clean test accuracy (%)", false, 100, {{"test_acc", "", false}}, ""});
  if (any_has(runs, false, "train_acc_right_labels"))
    f.push_back({"train_accuracy_split", "Train accuracy against the given labels", "accuracy vs given labels (%)",
                 false, 100,
                 {{"train_acc_right_labels", "right-label samples", false},
                  {"train_acc_wrong_labels", "wrong-label samples", true}},
                 "solid: samples whose given label is right; dashed: samples whose given label is wrong"});
  else  // older runs: the wrong-label accuracy is the memorization; the right-label one was not logged
    f.push_back({"train_accuracy_split", "Train accuracy against the given labels", "accuracy vs given labels (%)",
                 false, 100,
                 {{"train_acc_noisy", "all samples", false}, {"memorization", "wrong-label samples", true}},
                 "these runs do not log train_acc_right_labels: solid is all samples, dashed the wrong-label ones"});
  f.push_back({"memorization", "Memorization", "wrong-label samples predicted as their given label (%)", false, 100,
               {{"memorization", "", false}}, ""});
  f.push_back({"loss", "Loss", "cross-entropy (nats)", false, 1,
               {{"train_loss", "train (given labels)", false}, {"test_loss", "clean test", true}},
               "solid: training loss against the given labels; dashed: clean test loss"});
  f.push_back({"learning_rate", "Learning rate", "learning rate (at the epoch's last step)", false, 1, {{"lr", "", false}}, ""});
  f.push_back({"grad_norm", "|g|: gradient norm at w", "|g| (L2 norm)", true, 1, {{"grad_norm", "", false}}, ""});
  f.push_back({"perturb_norm", "|e|: perturbation norm", "|e| (L2 norm)", true, 1, {{"perturb_norm", "", false}}, ""});
  f.push_back({"aux_grad_norm", "|g*|: NCSAM's auxiliary gradient (CA-SAM: clean-subset gradient)", "|g*| (L2 norm)",
               true, 1, {{"aux_grad_norm", "", false}}, ""});
  f.push_back({"s_t", "s(t): NCSAM's clean/noisy balance", "s(t) (dimensionless)", true, 1, {{"s_t", "", false}}, ""});
  f.push_back({"cos_g_e", "cos(g, e)", "cosine (dimensionless)", true, 1, {{"cos_g_e", "", false}}, ""});
  f.push_back({"cos_g_aux", "cos(g, g*)", "cosine (dimensionless)", true, 1, {{"cos_g_aux", "", false}}, ""});
  f.push_back({"loss_gap", "Loss at w+e minus loss at w", "L(w+e) − L(w) (nats)", true, 1, {{"loss_gap", "", false}}, ""});
  return f;
}

// "seed=1 diverged at epoch 4, seed=2 unfinished at epoch 7" for the runs of a group that did not finish.
std::string group_mark(const ConfigGroup& g, const std::vector<RunLog>& runs) {
  std::string out;
  for (const size_t i : g.runs)
    if (!runs[i].is_finished())
      out += (out.empty() ? "" : ", ") + g.member_label(runs[i]) + " " + runs[i].status + " at epoch " +
             std::to_string(runs[i].epochs_done());
  return out;
}

ReportFigure make_figure(const FigureSpec& spec, const std::vector<ConfigGroup>& groups,
                         const std::vector<RunLog>& runs, const ReportOptions& opt, bool* drawn) {
  svg::LinePlot plot;
  plot.title = spec.title;
  plot.x.label = spec.over_steps ? "step (global iteration)" : "epoch";
  plot.y.label = spec.y_label;
  bool banded = false;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const ConfigGroup& g = groups[gi];
    const std::string mark = group_mark(g, runs);
    for (const CurveSpec& c : spec.curves) {
      std::vector<Curve> curves;
      for (const size_t i : g.runs) {
        const LogTable& t = spec.over_steps ? runs[i].steps : runs[i].epochs;
        if (!t.has(c.field)) continue;
        Curve curve{t.column(spec.over_steps ? "step" : "epoch"), t.column(c.field)};
        for (double& y : curve.y) y *= spec.scale;
        curves.push_back(std::move(curve));
      }
      if (curves.empty()) continue;
      const Aggregate a = aggregate(curves, opt.band);
      svg::Series s;
      s.label = g.label + (spec.curves.size() > 1 ? " — " + c.suffix : "") +
                (g.runs.size() > 1 ? " (" + std::to_string(curves.size()) + " runs)" : "");
      s.x = a.x;
      s.y = a.mean;
      if (g.runs.size() > 1) {
        s.low = a.low;
        s.high = a.high;
        banded = true;
      }
      s.color = svg::palette_color(gi);
      s.dashed = c.dashed;
      s.mark = mark.empty() ? "" : mark;
      plot.series.push_back(std::move(s));
    }
  }
  std::string note = spec.note;
  if (banded) note += (note.empty() ? "" : "; ") + std::string("line: mean, band: ") +
                      (opt.band == Band::Std ? "±1 std (sample)" : "min–max") + " over runs differing only in " +
                      [&] {
                        std::string s;
                        for (const std::string& f : opt.group_over) s += (s.empty() ? "" : ", ") + f;
                        return s;
                      }();
  plot.note = note;
  *drawn = !plot.series.empty();
  return {spec.id, spec.title, *drawn ? svg::render_line_plot(plot) : std::string(), spec.over_steps};
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string summary_table(const std::vector<ConfigGroup>& groups, const std::vector<RunLog>& runs,
                          const std::string& member_word) {
  std::string h = "<table class=\"summary\">\n<tr><th>configuration</th><th>runs</th><th>best clean test acc (%)</th>"
                  "<th>final clean test acc (%)</th><th>final memorization (%)</th><th>train time per run (s)</th>"
                  "<th>images/s</th></tr>\n";
  for (const ConfigGroup& g : groups) {
    std::vector<double> best, final_acc, mem, time, speed;
    int finished = 0;
    for (const size_t i : g.runs) {
      const RunLog& r = runs[i];
      best.push_back(r.best_test_acc >= 0 ? r.best_test_acc : NAN);
      final_acc.push_back(r.final_test_acc >= 0 ? r.final_test_acc : NAN);
      mem.push_back(r.final_memorization >= 0 ? r.final_memorization : NAN);
      time.push_back(r.train_time_s);
      speed.push_back(r.images_per_s > 0 ? r.images_per_s : NAN);
      finished += r.is_finished();
    }
    const std::string mark = group_mark(g, runs);
    h += "<tr" + std::string(mark.empty() ? "" : " class=\"marked\"") + "><td>" + xml_escape(g.label) + "</td><td>" +
         std::to_string(g.runs.size()) + " " + member_word + (finished < static_cast<int>(g.runs.size())
                                                                   ? " <span class=\"mark\">(" + xml_escape(mark) + ")</span>"
                                                                   : std::string()) +
         "</td><td>" + format_mean_std(mean_std(best), 100) + "</td><td>" + format_mean_std(mean_std(final_acc), 100) +
         "</td><td>" + format_mean_std(mean_std(mem), 100) + "</td><td>" + format_mean_std(mean_std(time), 1, 0) +
         "</td><td>" + format_mean_std(mean_std(speed), 1, 0) + "</td></tr>\n";
  }
  return h + "</table>\n";
}

std::string runs_table(const std::vector<ConfigGroup>& groups, const std::vector<RunLog>& runs) {
  std::string h = "<table class=\"runs\">\n<tr><th>run folder</th><th>configuration</th><th>status</th><th>epochs</th>"
                  "<th>best / final clean test acc (%)</th><th>final memorization (%)</th></tr>\n";
  for (const ConfigGroup& g : groups)
    for (const size_t i : g.runs) {
      const RunLog& r = runs[i];
      h += "<tr" + std::string(r.is_finished() ? "" : " class=\"marked\"") + "><td>" + xml_escape(r.dir) + "</td><td>" +
           xml_escape(g.label) + "</td><td>" + xml_escape(r.status) + "</td><td>" + std::to_string(r.epochs_done()) +
           (r.epochs_planned ? " / " + std::to_string(r.epochs_planned) : std::string()) + "</td><td>" +
           fixed(100 * r.best_test_acc, 2) + " / " + fixed(100 * r.final_test_acc, 2) + "</td><td>" +
           fixed(100 * r.final_memorization, 2) + "</td></tr>\n";
    }
  return h + "</table>\n";
}

const char* kStyle =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
    "th{background:#f2f2f2}td{font-variant-numeric:tabular-nums}tr.marked td{background:#fff4e5}"
    ".mark{color:#b35c00}figure{margin:18px 0}figcaption{font-size:12px;color:#555}svg{max-width:100%;height:auto}"
    "p.note{font-size:13px;color:#444}";

}  // namespace

std::string figure_file(const std::string& out_html, const std::string& figure_id) {
  const fs::path p(out_html);
  return (p.parent_path() / (p.stem().string() + "-" + figure_id + ".svg")).string();
}

Report build_report(const std::vector<RunLog>& input, const ReportOptions& opt) {
  std::vector<RunLog> runs = input;
  for (RunLog& r : runs) derive_columns(r);
  Report rep;
  rep.groups = group_runs(runs, opt.group_over);
  for (const FigureSpec& spec : figure_specs(runs)) {
    bool drawn = false;
    ReportFigure fig = make_figure(spec, rep.groups, runs, opt, &drawn);
    if (drawn) rep.figures.push_back(std::move(fig));
    else rep.not_drawn.push_back(spec.title + ": no run logged " + spec.curves[0].field);
  }
  std::string group_over;
  for (const std::string& f : opt.group_over) group_over += (group_over.empty() ? "" : ", ") + f;
  std::string& h = rep.html;
  h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + xml_escape(opt.title) +
      "</title>\n<style>" + kStyle + "</style>\n</head>\n<body data-figures=\"" + std::to_string(rep.figures.size()) +
      "\">\n<h1>" + xml_escape(opt.title) + "</h1>\n";
  h += "<p class=\"note\">" + std::to_string(runs.size()) + " runs in " + std::to_string(rep.groups.size()) +
       " configurations; runs that differ only in " + xml_escape(group_over) + " form one configuration: " +
       xml_escape(band_description(opt.band)) + ". Runs that diverged or did not finish are drawn to where they "
       "stopped, marked with ✕ and named in the legend and the tables.</p>\n";
  h += "<h2>Configurations</h2>\n" + summary_table(rep.groups, runs, "runs") +
       "<p class=\"note\">Best and final clean test accuracy and final memorization: mean ± sample std over the "
       "configuration's runs. Train time: the training epochs' time per run (evaluation excluded), mean over runs.</p>\n";
  bool steps_heading = false;
  h += "<h2>Over epochs</h2>\n";
  for (const ReportFigure& f : rep.figures) {
    if (f.over_steps && !steps_heading) {
      h += "<h2>Over steps</h2>\n<p class=\"note\">The optimizer's internals at the logged steps (--log-every).</p>\n";
      steps_heading = true;
    }
    h += "<figure id=\"fig-" + f.id + "\">\n" + f.svg + "<figcaption>" + xml_escape(f.title) + " — <a href=\"" +
         xml_escape(fs::path(figure_file(opt.out, f.id)).filename().string()) + "\">SVG file</a></figcaption>\n</figure>\n";
  }
  if (!rep.not_drawn.empty()) {
    h += "<p class=\"note\">Not drawn: ";
    for (size_t i = 0; i < rep.not_drawn.size(); ++i) h += (i ? "; " : "") + xml_escape(rep.not_drawn[i]);
    h += ".</p>\n";
  }
  h += "<h2>Runs</h2>\n" + runs_table(rep.groups, runs) + "</body>\n</html>\n";
  return rep;
}

std::vector<std::string> write_report(const ReportOptions& opt) {
  std::vector<RunLog> runs;
  for (const std::string& dir : find_run_dirs(opt.inputs)) runs.push_back(read_run(dir));
  const Report rep = build_report(runs, opt);
  const fs::path parent = fs::path(opt.out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  std::vector<std::string> written;
  for (const ReportFigure& f : rep.figures) {
    const std::string path = figure_file(opt.out, f.id);
    write_text_atomic(path, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + f.svg);
    written.push_back(path);
  }
  write_text_atomic(opt.out, rep.html);
  written.push_back(opt.out);
  return written;
}

int report_main(int argc, char** argv) {
  Flags f("report", "Draw run folders and sweep folders as one self-contained HTML page (inline SVG) plus one "
                    ".svg file per figure.\nusage: basin report DIR... --out report.html [--group-over seed] "
                    "[--band std|minmax]");
  f.add("out", "report.html", "the HTML file; the figures go beside it as <name>-<figure>.svg");
  f.add("group-over", "seed", "comma-separated train flags whose runs are averaged into one configuration");
  f.add("band", "std", "band around a configuration's mean: std (±1 sample std) | minmax");
  f.add("title", "basin report", "the page's heading");
  // Folders are positional: split them from the flags (every flag here takes a value).
  std::vector<std::string> inputs;
  std::vector<char*> flag_argv = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      flag_argv.push_back(argv[i]);
      if (a.find('=') == std::string::npos && a != "--help" && a != "-h" && i + 1 < argc) flag_argv.push_back(argv[++i]);
    } else {
      inputs.push_back(a);
    }
  }
  if (!f.parse(static_cast<int>(flag_argv.size()), flag_argv.data())) return 0;
  BASIN_CHECK(!inputs.empty(), "no run or sweep folder given (usage: basin report DIR... --out report.html)");
  ReportOptions opt;
  opt.inputs = inputs;
  opt.out = f.str("out");
  opt.band = parse_band(f.str("band"));
  opt.title = f.str("title");
  opt.group_over.clear();
  const std::string over = f.str("group-over") + ",";
  for (size_t b = 0, e; (e = over.find(',', b)) != std::string::npos; b = e + 1)
    if (e > b) opt.group_over.push_back(over.substr(b, e - b));
  const std::vector<std::string> written = write_report(opt);
  std::printf("wrote %s and %zu figure files beside it\n", opt.out.c_str(), written.size() - 1);
  return 0;
}

}  // namespace basin::apps
