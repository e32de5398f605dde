// Figures as standalone SVG text, with no plotting dependency: line plots
// (series with optional bands, a legend, labelled axes with ticks) and heat
// maps with optional contour lines (2D loss surfaces). Each render_* returns
// one complete <svg> element, valid both inline in HTML and as a .svg file.
//
// Every drawn series is a <polyline class="series" data-series="i"> (one per
// unbroken stretch: NaN breaks a line) in plot-area pixels; the plot area
// carries data-x-range / data-y-range / data-area so tests (and curious
// readers) can map points back to data values.
#pragma once
#include <string>
#include <vector>

namespace basin::apps::svg {

struct Axis {
  std::string label;     // with its unit, e.g. "epoch", "accuracy (%)"
  bool log = false;      // log10 scale (non-positive values are not drawn)
  double min = 0, max = 0;  // min == max: fitted to the data (with the ticks' rounding)
};

struct Series {
  std::string label;                 // legend text
  std::vector<double> x, y;          // NaN in y breaks the line
  std::vector<double> low, high;     // a band around y (same size as x), or empty
  std::string color;                 // CSS colour; empty: the palette's colour for its index
  bool dashed = false;
  std::string mark;                  // non-empty: an X at the last point and "(mark)" in the legend
};

struct LinePlot {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  std::string note;   // one line under the title, e.g. "bands: ±1 std over 3 seeds"
  int width = 720, height = 400;  // the plot area plus margins; the legend adds width
};

struct HeatMap {
  std::string title;
  Axis x, y;                 // log is ignored; ranges come from xs and ys
  std::vector<double> xs;    // nx cell centres, increasing
  std::vector<double> ys;    // ny cell centres, increasing
  std::vector<double> values;  // row-major: values[j * nx + i] at (xs[i], ys[j]); NaN: cell left blank
  std::string value_label;   // the colour bar's label, with unit
  int contours = 0;          // > 0: this many contour levels, evenly spaced over the value range
  std::vector<double> contour_levels;  // explicit levels (used instead when non-empty)
  std::vector<std::pair<double, double>> markers;  // points to mark (e.g. the trained weights at (0,0))
  int width = 560, height = 460;
};

std::string render_line_plot(const LinePlot& plot);
// Throws basin::Error when the sizes of xs, ys and values disagree.
std::string render_heat_map(const HeatMap& map);

// Round tick values covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target);
std::string format_tick(double value);         // "0.25", "1e-04", "1200"
std::string palette_color(size_t index);       // distinguishable line colours
std::string xml_escape(const std::string& text);

}  // namespace basin::apps::svg
