// Training progress on stderr: a one-line bar redrawn with \r when stderr is a
// terminal, plain lines every few seconds otherwise (logs, CI), nothing when quiet.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace basin::apps {

class Progress {
 public:
  // quiet: print nothing at all. plain_every_s: period of the non-terminal lines.
  explicit Progress(bool quiet = false, double plain_every_s = 10.0);

  struct State {
    int64_t epoch = 0, epochs = 0;   // epoch is 1-based for display
    int64_t step = 0, steps = 0;     // within the epoch
    double loss = 0, accuracy = 0;   // running means of the epoch
    double images_per_s = 0, eta_s = 0;
  };
  void update(const State& state);
  // Any one-line status (e.g. a whole sweep's): redrawn in place on a terminal
  // (at most 5 times a second), a plain line every plain_every_s otherwise;
  // `force` prints it regardless of the period (the last update of a phase).
  void status(const std::string& text, bool force = false);
  // Print a whole line (finishing the bar first on a terminal).
  void line(const std::string& text);
  // "warning: <text>", printed even when quiet: a setting that does nothing
  // is worth a line in every log.
  void warn(const std::string& text);

 private:
  std::string format(const State& state) const;
  std::string bar(const State& state) const;
  bool quiet_, tty_;
  double plain_every_s_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point last_;
  bool printed_ = false;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "42s"

}  // namespace basin::apps
