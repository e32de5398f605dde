// Figures of probe and toy; see probe_figures.h.
#include "apps/probe_figures.h"

#include "apps/json_writer.h"
#include "apps/report.h"

namespace basin::apps {

std::string write_svg_figure(const std::string& out, const std::string& id, const std::string& svg) {
  const std::string path = figure_file(out, id);
  write_text_atomic(path, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg);
  return path;
}

svg::LinePlot curves(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<double>& x, const std::vector<std::pair<std::string, std::vector<double>>>& ys) {
  svg::LinePlot plot;
  plot.title = title;
  plot.x.label = x_label;
  plot.y.label = y_label;
  for (const auto& [label, y] : ys) {
    svg::Series s;
    s.label = label;
    s.x = x;
    s.y = y;
    plot.series.push_back(s);
  }
  return plot;
}

std::string surface_heat_map(const std::string& title, const std::vector<double>& alphas,
                             const std::vector<double>& betas, const std::vector<double>& loss) {
  svg::HeatMap map;
  map.title = title;
  map.x.label = "a (direction 1)";
  map.y.label = "b (direction 2)";
  map.xs = alphas;
  map.ys = betas;
  map.values = loss;
  map.value_label = "loss";
  map.contours = 8;
  map.markers = {{0.0, 0.0}};
  return svg::render_heat_map(map);
}

}  // namespace basin::apps
