// `basin report`: run folders and sweep folders -> one self-contained HTML
// page (inline SVG, no script, no network) plus one .svg file per figure.
// Figures over epochs (clean test accuracy, train accuracy on right- and
// wrong-label samples, memorization, loss, learning rate) and over steps
// (|g|, |e|, |g*|, s(t), cos(g,e), cos(g,g*), L(w+e) - L(w)), one line per
// configuration with a band over its seeds, and a table per configuration.
#pragma once
#include <string>
#include <vector>

#include "apps/report_data.h"
#include "apps/run_log.h"

namespace basin::apps {

struct ReportOptions {
  std::vector<std::string> inputs;                  // run folders and sweep folders
  std::string out = "report.html";
  std::vector<std::string> group_over = {"seed"};  // flags whose runs are averaged
  Band band = Band::Std;
  std::string title = "basin report";
};

struct ReportFigure {
  std::string id;      // file-name part: <out stem>-<id>.svg
  std::string title;
  std::string svg;
  bool over_steps = false;
};

struct Report {
  std::vector<ConfigGroup> groups;
  std::vector<ReportFigure> figures;
  std::vector<std::string> not_drawn;  // figures without data, and why
  std::string html;
};

// Builds everything in memory; the HTML links each figure's .svg file (figure_file).
Report build_report(const std::vector<RunLog>& runs, const ReportOptions& options);
// Reads the runs, writes the HTML and the .svg files; returns the files written.
std::vector<std::string> write_report(const ReportOptions& options);

std::string figure_file(const std::string& out_html, const std::string& figure_id);

}  // namespace basin::apps
