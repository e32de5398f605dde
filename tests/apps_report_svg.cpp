// apps: the SVG plotting module: ticks, escaping, line plots that break at
// missing values, and heat maps whose cells and contour lines map back to the
// function they were drawn from.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "apps/svg_plot.h"
#include "core/error.h"

using namespace basin::apps;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

std::string attr_after(const std::string& text, size_t from, const std::string& name) {
  const size_t p = text.find(" " + name + "=\"", from);
  const size_t b = p + name.size() + 3;
  return text.substr(b, text.find('"', b) - b);
}

std::vector<double> numbers(std::string text) {
  for (char& c : text)
    if (c == 'M' || c == 'L' || c == ',') c = ' ';
  std::vector<double> out;
  std::istringstream in(text);
  for (double v; in >> v;) out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("apps: svg ticks are round numbers covering the range") {
  const std::vector<double> unit = svg::nice_ticks(0, 1, 5);
  REQUIRE(unit.size() == 6);
  for (size_t i = 0; i < unit.size(); ++i) CHECK(unit[i] == doctest::Approx(0.2 * i));
  const std::vector<double> t = svg::nice_ticks(13, 87, 6);
  CHECK(t.front() <= 13);
  CHECK(t.back() >= 87);
  CHECK(t[1] - t[0] == doctest::Approx(20));  // 74 / 6 = 12.3 rounds up to a step of 2 x 10
  CHECK(svg::format_tick(0.25) == "0.25");
  CHECK(svg::format_tick(1200) == "1200");
  CHECK(svg::format_tick(0) == "0");
  CHECK(svg::xml_escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
}

TEST_CASE("apps: svg line plots break at missing values, carry legends, bands and marks") {
  svg::LinePlot p;
  p.title = "t <1>";
  p.x.label = "epoch";
  p.y.label = "accuracy (%)";
  svg::Series a;
  a.label = "sam & co";
  a.x = {1, 2, 3, 4, 5};
  a.y = {1, 2, NAN, 4, 5};
  a.low = {0, 1, NAN, 3, 4};
  a.high = {2, 3, NAN, 5, 6};
  a.mark = "diverged";
  svg::Series b;
  b.label = "sgd";
  b.x = {1, 2};
  b.y = {3, 3};
  b.dashed = true;
  p.series = {a, b};
  const std::string s = svg::render_line_plot(p);
  CHECK(s.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(count(s, "<polyline class=\"series\" data-series=\"0\"") == 2);  // split at the NaN
  CHECK(count(s, "<polygon class=\"band\" data-series=\"0\"") == 2);
  CHECK(count(s, "<polyline class=\"series\" data-series=\"1\"") == 1);
  CHECK(count(s, "stroke-dasharray") == 2);  // the dashed line and its legend sample
  CHECK(s.find("sam &amp; co (diverged)") != std::string::npos);
  CHECK(s.find("<title>t &lt;1&gt;</title>") != std::string::npos);
  CHECK(count(s, "<g class=\"mark\"") == 1);
  CHECK(s.find(">accuracy (%)</text>") != std::string::npos);
  CHECK(s.find(">epoch</text>") != std::string::npos);
  svg::Series bad;
  bad.x = {1};
  p.series = {bad};
  CHECK_THROWS_AS(svg::render_line_plot(p), basin::Error);
}

TEST_CASE("apps: svg heat map cells hold the values and contours lie on their level") {
  svg::HeatMap m;
  m.title = "loss surface";
  m.x.label = "direction 1";
  m.y.label = "direction 2";
  m.value_label = "loss (nats)";
  const int nx = 9, ny = 7;
  for (int i = 0; i < nx; ++i) m.xs.push_back(-1 + 2.0 * i / (nx - 1));
  for (int j = 0; j < ny; ++j) m.ys.push_back(-0.6 + 1.2 * j / (ny - 1));
  auto f = [](double x, double y) { return x + 2 * y; };  // contours of a plane are exact under interpolation
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i < nx; ++i) m.values.push_back(f(m.xs[i], m.ys[j]));
  m.values[0] = NAN;  // a blank cell
  m.contour_levels = {-0.5, 0.3, 1.1};
  m.markers = {{0, 0}};
  const std::string s = svg::render_heat_map(m);
  CHECK(count(s, "<rect class=\"cell\"") == nx * ny - 1);
  CHECK(count(s, "<circle class=\"marker\"") == 1);
  const size_t area = s.find("<g class=\"plot-area\"");
  const std::vector<double> xr = numbers(attr_after(s, area, "data-x-range"));
  const std::vector<double> yr = numbers(attr_after(s, area, "data-y-range"));
  const std::vector<double> a = numbers(attr_after(s, area, "data-area"));
  CHECK(xr[0] == doctest::Approx(-1.125));  // cell edges half a step beyond the centres
  int checked = 0;
  for (const double level : m.contour_levels) {
    std::ostringstream key;
    key << "data-level=\"" << level << "\"";
    const size_t at = s.find(key.str());
    REQUIRE(at != std::string::npos);
    const std::vector<double> pts = numbers(attr_after(s, at, "d"));
    REQUIRE(pts.size() >= 4);
    for (size_t k = 0; k + 1 < pts.size(); k += 2) {
      const double x = xr[0] + (pts[k] - a[0]) / a[2] * (xr[1] - xr[0]);
      const double y = yr[0] + (a[1] + a[3] - pts[k + 1]) / a[3] * (yr[1] - yr[0]);
      CHECK(std::abs(f(x, y) - level) < 1e-3);
      ++checked;
    }
  }
  CHECK(checked > 20);
  m.values.pop_back();
  CHECK_THROWS_AS(svg::render_heat_map(m), basin::Error);
}
