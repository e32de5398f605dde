// Progress bar and plain progress lines; see progress.h.
#include "apps/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace basin::apps {

Progress::Progress(bool quiet, double plain_every_s)
    : quiet_(quiet), tty_(isatty(fileno(stderr)) != 0), plain_every_s_(plain_every_s) {}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

std::string Progress::format(const State& st) const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
                static_cast<long long>(st.epoch), static_cast<long long>(st.epochs),
                static_cast<long long>(st.step), static_cast<long long>(st.steps), st.loss,
                100.0 * st.accuracy, st.images_per_s, format_duration(st.eta_s).c_str());
  return buf;
}

std::string Progress::bar(const State& st) const {
  const int bar_width = 20;
  const int filled = st.steps > 0 ? static_cast<int>(bar_width * st.step / st.steps) : 0;
  return "[" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "] ";
}

void Progress::update(const State& st) {
  if (quiet_) return;
  status((tty_ ? bar(st) : std::string()) + format(st), st.step == st.steps);
}

void Progress::status(const std::string& text, bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (tty_) {
    if (printed_ && since < 0.2 && !force) return;  // redraw at most 5 times a second
    std::fprintf(stderr, "\r%s\033[K", text.c_str());
    bar_open_ = true;
  } else {
    if (printed_ && since < plain_every_s_ && !force) return;
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
  last_ = now;
  printed_ = true;
}

void Progress::warn(const std::string& text) {
  const bool quiet = quiet_;
  quiet_ = false;
  line("warning: " + text);
  quiet_ = quiet;
}

void Progress::line(const std::string& text) {
  if (quiet_) return;
  if (bar_open_) std::fputc('\n', stderr);
  bar_open_ = false;
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

}  // namespace basin::apps
