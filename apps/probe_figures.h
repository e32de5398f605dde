// The figures of `basin probe` (the line to --to, the 1D and 2D surfaces) and
// of `basin toy label-noise` (norms and alignments over steps), drawn with
// apps/svg_plot and written beside the JSON output as <stem>-<id>.svg.
#pragma once
#include <string>
#include <vector>

#include "apps/svg_plot.h"

namespace basin::apps {

// Writes `svg` (atomically) to report.h's figure_file(out, id); returns the path.
std::string write_svg_figure(const std::string& out, const std::string& id, const std::string& svg);

// One curve y(x) per series label, sharing the x values.
svg::LinePlot curves(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<double>& x, const std::vector<std::pair<std::string, std::vector<double>>>& ys);

// The 2D surface as a heat map with contours, the trained weights marked at (0, 0).
std::string surface_heat_map(const std::string& title, const std::vector<double>& alphas,
                             const std::vector<double>& betas, const std::vector<double>& loss);

}  // namespace basin::apps
