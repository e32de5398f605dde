// SVG figures; see svg_plot.h. Text is measured by a fixed average glyph
// width (no font metrics without a renderer), generous enough for sans-serif.
#include "apps/svg_plot.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace basin::apps::svg {
namespace {

constexpr double kGlyph = 6.6;  // average width of an 11px sans-serif character
constexpr const char* kFont = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string full(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// One axis' mapping from data values to pixels (log10 first when log).
struct Scale {
  double lo = 0, hi = 1;       // in axis space (log10 of the data when log)
  double p0 = 0, p1 = 1;       // pixels of lo and hi
  bool log = false;
  std::vector<double> ticks;   // in axis space
  double axis(double v) const { return log ? (v > 0 ? std::log10(v) : std::nan("")) : v; }
  double px(double v) const { return p0 + (axis(v) - lo) / (hi - lo) * (p1 - p0); }
};

// Fits the axis to the finite values (or to the fixed range) and rounds it to ticks.
Scale fit_scale(const Axis& a, std::vector<double> values, double p0, double p1) {
  Scale s;
  s.log = a.log;
  s.p0 = p0;
  s.p1 = p1;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  if (a.min != a.max) {
    lo = s.axis(a.min);
    hi = s.axis(a.max);
  } else {
    for (double v : values) {
      v = s.axis(v);
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (lo == hi) lo -= std::max(1e-12, std::abs(lo) * 0.1) + (lo == 0), hi += std::max(1e-12, std::abs(hi) * 0.1) + (hi == 0);
  s.ticks = nice_ticks(lo, hi, 6);
  if (s.log) {  // whole decades only
    std::vector<double> decades;
    for (double t = std::floor(lo); t <= std::ceil(hi) + 1e-9; t += std::max(1.0, std::round((hi - lo) / 6)))
      decades.push_back(t);
    s.ticks = decades;
  }
  if (a.min != a.max) {
    s.lo = lo;
    s.hi = hi;
    s.ticks.erase(std::remove_if(s.ticks.begin(), s.ticks.end(),
                                 [&](double t) { return t < lo - 1e-9 * (hi - lo) || t > hi + 1e-9 * (hi - lo); }),
                  s.ticks.end());
  } else {
    s.lo = std::min(lo, s.ticks.front());
    s.hi = std::max(hi, s.ticks.back());
  }
  return s;
}

std::string tick_label(const Scale& s, double t) { return format_tick(s.log ? std::pow(10.0, t) : t); }

std::string text(double x, double y, const std::string& body, const std::string& attrs = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" " + attrs + ">" + xml_escape(body) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" " +
         attrs + "/>\n";
}

// Frame, grid lines, ticks and axis labels around the area [x0,x0+w] x [y0,y0+h].
std::string axes(const Scale& sx, const Scale& sy, const Axis& ax, const Axis& ay, double x0, double y0, double w,
                 double h) {
  std::string out;
  for (const double t : sx.ticks) {
    const double p = sx.p0 + (t - sx.lo) / (sx.hi - sx.lo) * (sx.p1 - sx.p0);
    out += line(p, y0, p, y0 + h, "stroke=\"#e4e4e4\"");
    out += line(p, y0 + h, p, y0 + h + 4, "stroke=\"#444\"");
    out += text(p, y0 + h + 16, tick_label(sx, t), "text-anchor=\"middle\" font-size=\"11\"");
  }
  for (const double t : sy.ticks) {
    const double p = sy.p0 + (t - sy.lo) / (sy.hi - sy.lo) * (sy.p1 - sy.p0);
    out += line(x0, p, x0 + w, p, "stroke=\"#e4e4e4\"");
    out += line(x0 - 4, p, x0, p, "stroke=\"#444\"");
    out += text(x0 - 7, p + 4, tick_label(sy, t), "text-anchor=\"end\" font-size=\"11\"");
  }
  out += "<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
  out += text(x0 + w / 2, y0 + h + 38, ax.label + (ax.log ? " (log scale)" : ""),
              "text-anchor=\"middle\" font-size=\"12\"");
  const double ly = y0 + h / 2;
  out += text(16, ly, ay.label + (ay.log ? " (log scale)" : ""),
              "text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16 " + num(ly) + ")\"");
  return out;
}

std::string svg_open(double width, double height, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" " + kFont + " class=\"basin-figure\">\n" +
         "<title>" + xml_escape(title) + "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

std::string plot_area_attrs(const Scale& sx, const Scale& sy, double x0, double y0, double w, double h) {
  return "class=\"plot-area\" data-x-range=\"" + full(sx.lo) + " " + full(sx.hi) + "\" data-y-range=\"" +
         full(sy.lo) + " " + full(sy.hi) + "\" data-x-scale=\"" + (sx.log ? "log" : "linear") +
         "\" data-y-scale=\"" + (sy.log ? "log" : "linear") + "\" data-area=\"" + num(x0) + " " + num(y0) + " " +
         num(w) + " " + num(h) + "\"";
}

// A colour ramp from dark blue through teal to yellow (low to high).
std::string ramp(double t) {
  static const double stops[][3] = {{27, 31, 75}, {44, 95, 138}, {42, 157, 143}, {140, 198, 101}, {244, 224, 77}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
                static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
                static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
  return buf;
}

// Edges of cells centred at `c` (midpoints between centres).
std::vector<double> cell_edges(const std::vector<double>& c) {
  std::vector<double> e(c.size() + 1);
  if (c.size() == 1) return {c[0] - 0.5, c[0] + 0.5};
  for (size_t i = 1; i < c.size(); ++i) e[i] = (c[i - 1] + c[i]) / 2;
  e[0] = c[0] - (c[1] - c[0]) / 2;
  e[c.size()] = c.back() + (c.back() - c[c.size() - 2]) / 2;
  return e;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last; ++k) ticks.push_back(std::abs(k * step) < step * 1e-9 ? 0.0 : k * step);
  return ticks;
}

std::string format_tick(double v) {
  if (v == 0) return "0";
  char buf[32];
  if (std::abs(v) >= 1e5 || std::abs(v) < 1e-3) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string palette_color(size_t index) {
  static const char* colors[] = {"#1f5fa8", "#d1495b", "#2a9d4b", "#e08e0b", "#7b4fa6",
                                 "#1aa3a3", "#8c5a3c", "#d45fb0", "#5c6b73", "#9aa31a"};
  return colors[index % (sizeof colors / sizeof colors[0])];
}

std::string xml_escape(const std::string& t) {
  std::string out;
  for (const char c : t) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_line_plot(const LinePlot& p) {
  const double left = 72, right = 16, top = p.note.empty() ? 36 : 52, bottom = 52;
  size_t longest = 0;
  for (const Series& s : p.series) longest = std::max(longest, s.label.size() + (s.mark.empty() ? 0 : s.mark.size() + 3));
  const double legend_w = p.series.empty() ? 0 : 44 + kGlyph * static_cast<double>(longest);
  const double x0 = left, y0 = top, w = p.width - left - right, h = p.height - top - bottom;
  const double legend_h = 18.0 * static_cast<double>(p.series.size()) + top + 8;
  const double height = std::max<double>(p.height, legend_h);

  std::vector<double> xs, ys;
  for (const Series& s : p.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
    ys.insert(ys.end(), s.low.begin(), s.low.end());
    ys.insert(ys.end(), s.high.begin(), s.high.end());
  }
  const Scale sx = fit_scale(p.x, xs, x0, x0 + w);
  const Scale sy = fit_scale(p.y, ys, y0 + h, y0);

  std::string out = svg_open(p.width + legend_w, height, p.title);
  out += text(x0, 20, p.title, "font-size=\"14\" font-weight=\"bold\"");
  if (!p.note.empty()) out += text(x0, 38, p.note, "font-size=\"11\" fill=\"#555\"");
  out += axes(sx, sy, p.x, p.y, x0, y0, w, h);
  out += "<g " + plot_area_attrs(sx, sy, x0, y0, w, h) + ">\n";
  // Figures inlined into one HTML page share one id namespace: a clip id per figure.
  static std::atomic<int> figures{0};
  const std::string clip = "clip" + std::to_string(figures++);
  out += "<clipPath id=\"" + clip + "\"><rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) +
         "\" height=\"" + num(h) + "\"/></clipPath>\n";
  for (size_t si = 0; si < p.series.size(); ++si) {
    const Series& s = p.series[si];
    const std::string color = s.color.empty() ? palette_color(si) : s.color;
    BASIN_CHECK(s.x.size() == s.y.size(), "svg: series '", s.label, "' has ", s.x.size(), " x but ", s.y.size(),
                " y values");
    const bool band = !s.low.empty() && s.low.size() == s.x.size() && s.high.size() == s.x.size();
    // Bands and lines are split where a value is missing (NaN) or unplottable.
    auto drawable = [&](size_t i, bool with_band) {
      const bool ok = std::isfinite(sx.px(s.x[i])) && std::isfinite(sy.px(s.y[i]));
      return with_band ? ok && std::isfinite(sy.px(s.low[i])) && std::isfinite(sy.px(s.high[i])) : ok;
    };
    for (const bool drawing_band : {true, false}) {
      if (drawing_band && !band) continue;
      size_t i = 0;
      while (i < s.x.size()) {
        while (i < s.x.size() && !drawable(i, drawing_band)) ++i;
        size_t j = i;
        while (j < s.x.size() && drawable(j, drawing_band)) ++j;
        if (j > i) {
          std::string pts;
          for (size_t k = i; k < j; ++k) pts += num(sx.px(s.x[k])) + "," + num(sy.px(drawing_band ? s.high[k] : s.y[k])) + " ";
          if (drawing_band) {
            for (size_t k = j; k-- > i;) pts += num(sx.px(s.x[k])) + "," + num(sy.px(s.low[k])) + " ";
            out += "<polygon class=\"band\" data-series=\"" + std::to_string(si) + "\" points=\"" + pts +
                   "\" fill=\"" + color + "\" fill-opacity=\"0.18\" stroke=\"none\" clip-path=\"url(#" + clip + ")\"/>\n";
          } else {
            out += "<polyline class=\"series\" data-series=\"" + std::to_string(si) + "\" points=\"" + pts +
                   "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\"" +
                   (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " clip-path=\"url(#" + clip + ")\"/>\n";
          }
        }
        i = j;
      }
    }
    if (!s.mark.empty()) {
      for (size_t k = s.x.size(); k-- > 0;) {
        if (!drawable(k, false)) continue;
        const double cx = sx.px(s.x[k]), cy = sy.px(s.y[k]);
        out += "<g class=\"mark\" data-series=\"" + std::to_string(si) + "\"><title>" + xml_escape(s.label + ": " + s.mark) +
               "</title>" + line(cx - 5, cy - 5, cx + 5, cy + 5, "stroke=\"" + color + "\" stroke-width=\"2.5\"") +
               line(cx - 5, cy + 5, cx + 5, cy - 5, "stroke=\"" + color + "\" stroke-width=\"2.5\"") + "</g>\n";
        break;
      }
    }
  }
  out += "</g>\n<g class=\"legend\">\n";
  for (size_t si = 0; si < p.series.size(); ++si) {
    const Series& s = p.series[si];
    const std::string color = s.color.empty() ? palette_color(si) : s.color;
    const double lx = p.width + 4, ly = top + 8 + 18.0 * static_cast<double>(si);
    if (!s.low.empty())
      out += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 6) + "\" width=\"26\" height=\"12\" fill=\"" + color +
             "\" fill-opacity=\"0.18\"/>";
    out += line(lx, ly, lx + 26, ly, "stroke=\"" + color + "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : ""));
    out += text(lx + 32, ly + 4, s.label + (s.mark.empty() ? "" : " (" + s.mark + ")"), "font-size=\"11\"");
  }
  return out + "</g>\n</svg>\n";
}

std::string render_heat_map(const HeatMap& m) {
  const size_t nx = m.xs.size(), ny = m.ys.size();
  BASIN_CHECK(nx > 0 && ny > 0 && m.values.size() == nx * ny, "svg heat map '", m.title, "': ", nx, " x ", ny,
              " grid but ", m.values.size(), " values");
  const double left = 72, top = 36, bottom = 52, bar_w = 110;
  const double x0 = left, y0 = top, w = m.width - left - bar_w, h = m.height - top - bottom;
  const std::vector<double> ex = cell_edges(m.xs), ey = cell_edges(m.ys);
  Axis ax = m.x, ay = m.y;
  ax.log = ay.log = false;
  ax.min = ex.front(), ax.max = ex.back();
  ay.min = ey.front(), ay.max = ey.back();
  const Scale sx = fit_scale(ax, {}, x0, x0 + w), sy = fit_scale(ay, {}, y0 + h, y0);
  double vmin = std::numeric_limits<double>::infinity(), vmax = -vmin;
  for (const double v : m.values)
    if (std::isfinite(v)) vmin = std::min(vmin, v), vmax = std::max(vmax, v);
  if (!std::isfinite(vmin)) vmin = 0, vmax = 1;
  if (vmin == vmax) vmax = vmin + 1;
  auto t_of = [&](double v) { return (v - vmin) / (vmax - vmin); };

  std::string out = svg_open(m.width, m.height, m.title);
  out += text(x0, 20, m.title, "font-size=\"14\" font-weight=\"bold\"");
  out += "<g " + plot_area_attrs(sx, sy, x0, y0, w, h) + " data-value-range=\"" + full(vmin) + " " + full(vmax) + "\">\n";
  for (size_t j = 0; j < ny; ++j)
    for (size_t i = 0; i < nx; ++i) {
      const double v = m.values[j * nx + i];
      if (!std::isfinite(v)) continue;
      const double px0 = sx.px(ex[i]), px1 = sx.px(ex[i + 1]), py0 = sy.px(ey[j + 1]), py1 = sy.px(ey[j]);
      out += "<rect class=\"cell\" data-value=\"" + full(v) + "\" x=\"" + num(px0) + "\" y=\"" + num(py0) +
             "\" width=\"" + num(px1 - px0 + 0.3) + "\" height=\"" + num(py1 - py0 + 0.3) + "\" fill=\"" +
             ramp(t_of(v)) + "\"/>\n";
    }
  std::vector<double> levels = m.contour_levels;
  if (levels.empty() && m.contours > 0)
    for (int k = 1; k <= m.contours; ++k) levels.push_back(vmin + (vmax - vmin) * k / (m.contours + 1));
  // Marching squares over the cell centres; saddles are split one fixed way.
  for (const double level : levels) {
    std::string d;
    for (size_t j = 0; j + 1 < ny; ++j)
      for (size_t i = 0; i + 1 < nx; ++i) {
        const double va = m.values[j * nx + i], vb = m.values[j * nx + i + 1];
        const double vc = m.values[(j + 1) * nx + i + 1], vd = m.values[(j + 1) * nx + i];
        if (!std::isfinite(va) || !std::isfinite(vb) || !std::isfinite(vc) || !std::isfinite(vd)) continue;
        const int code = (va >= level) | (vb >= level) << 1 | (vc >= level) << 2 | (vd >= level) << 3;
        if (code == 0 || code == 15) continue;
        auto cut = [&](double v0, double v1) { return (level - v0) / (v1 - v0); };
        const double xa = m.xs[i], xb = m.xs[i + 1], ya = m.ys[j], yd = m.ys[j + 1];
        const std::pair<double, double> e[4] = {{xa + cut(va, vb) * (xb - xa), ya},
                                                {xb, ya + cut(vb, vc) * (yd - ya)},
                                                {xa + cut(vd, vc) * (xb - xa), yd},
                                                {xa, ya + cut(va, vd) * (yd - ya)}};
        static const int segments[16][4] = {{-1, -1, -1, -1}, {3, 0, -1, -1}, {0, 1, -1, -1}, {3, 1, -1, -1},
                                            {1, 2, -1, -1},   {3, 0, 1, 2},   {0, 2, -1, -1}, {3, 2, -1, -1},
                                            {3, 2, -1, -1},   {0, 2, -1, -1}, {0, 1, 2, 3},   {1, 2, -1, -1},
                                            {3, 1, -1, -1},   {0, 1, -1, -1}, {3, 0, -1, -1}, {-1, -1, -1, -1}};
        for (int s = 0; s < 4 && segments[code][s] >= 0; s += 2) {
          const auto& p = e[segments[code][s]];
          const auto& q = e[segments[code][s + 1]];
          d += "M" + num(sx.px(p.first)) + " " + num(sy.px(p.second)) + "L" + num(sx.px(q.first)) + " " +
               num(sy.px(q.second));
        }
      }
    if (!d.empty())
      out += "<path class=\"contour\" data-level=\"" + full(level) + "\" d=\"" + d +
             "\" fill=\"none\" stroke=\"white\" stroke-opacity=\"0.85\" stroke-width=\"1\"/>\n";
  }
  for (const auto& [mx, my] : m.markers) {
    const double cx = sx.px(mx), cy = sy.px(my);
    out += "<circle class=\"marker\" cx=\"" + num(cx) + "\" cy=\"" + num(cy) +
           "\" r=\"4\" fill=\"#d1495b\" stroke=\"white\" stroke-width=\"1.5\"/>\n";
  }
  out += "</g>\n" + axes(sx, sy, ax, ay, x0, y0, w, h);
  // Colour bar with its ticks and the contour levels.
  const double bx = x0 + w + 22, bw = 16;
  for (int k = 0; k < 64; ++k) {
    const double t0 = k / 64.0;
    out += "<rect x=\"" + num(bx) + "\" y=\"" + num(y0 + h - (t0 + 1 / 64.0) * h) + "\" width=\"" + num(bw) +
           "\" height=\"" + num(h / 64 + 0.5) + "\" fill=\"" + ramp(t0 + 0.5 / 64) + "\"/>\n";
  }
  out += "<rect x=\"" + num(bx) + "\" y=\"" + num(y0) + "\" width=\"" + num(bw) + "\" height=\"" + num(h) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (const double t : nice_ticks(vmin, vmax, 5)) {
    if (t < vmin || t > vmax) continue;
    const double py = y0 + h - t_of(t) * h;
    out += line(bx + bw, py, bx + bw + 4, py, "stroke=\"#444\"");
    out += text(bx + bw + 6, py + 4, format_tick(t), "font-size=\"11\"");
  }
  for (const double level : levels) {
    const double py = y0 + h - t_of(level) * h;
    out += line(bx, py, bx + bw, py, "stroke=\"white\"");
  }
  const double lx = m.width - 10, ly = y0 + h / 2;
  out += text(lx, ly, m.value_label, "text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 " + num(lx) +
                                         " " + num(ly) + ")\"");
  return out + "</svg>\n";
}

}  // namespace basin::apps::svg
