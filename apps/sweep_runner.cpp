// Child processes of `basin sweep`; see sweep_runner.h.
#include "apps/sweep_runner.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "apps/json_writer.h"
#include "apps/progress.h"
#include "core/error.h"
#include "core/json.h"

extern char** environ;

namespace basin::apps {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_signals = 0;  // SIGINT/SIGTERM received by the sweep
volatile std::sig_atomic_t g_last_signal = 0;
extern "C" void on_signal(int sig) {
  g_signals = g_signals + 1;
  g_last_signal = sig;
}

// Installs the handlers for the lifetime of a sweep, restoring the old ones.
class SignalScope {
 public:
  SignalScope() {
    g_signals = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// The epoch lines a running child appends to its run.jsonl, read as they come.
class EpochTail {
 public:
  EpochTail(std::string path, bool from_end) : path_(std::move(path)) {
    std::error_code ec;
    if (from_end) offset_ = fs::file_size(path_, ec), offset_ = ec ? 0 : offset_;
  }
  // Calls on_epoch(epoch, epoch_s) for every new complete epoch line.
  template <class F>
  void poll(F&& on_epoch) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(path_, ec);
    if (ec) return;
    if (size < offset_) offset_ = 0, partial_.clear();  // a fresh run truncated a stale log
    if (size == offset_) return;
    std::ifstream in(path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk(size - offset_, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<size_t>(in.gcount()));
    offset_ += chunk.size();
    partial_ += chunk;
    size_t newline;
    while ((newline = partial_.find('\n')) != std::string::npos) {
      const std::string line = partial_.substr(0, newline);
      partial_.erase(0, newline + 1);
      try {
        const json::Value v = json::parse(line, path_);
        const json::Value* type = v.find("type");
        if (type && type->is_string() && type->as_string() == "epoch")
          on_epoch(v.at("epoch").as_int64(), v.find("epoch_s") ? v.at("epoch_s").as_double() : 0.0);
      } catch (const Error&) {
        // Not ours to judge here: the report reads run.jsonl strictly.
      }
    }
  }

 private:
  std::string path_;
  uintmax_t offset_ = 0;
  std::string partial_;
};

struct Child {
  size_t run = 0;
  pid_t pid = -1;
  std::string dir;
  int64_t epochs_logged = 0;
  Clock::time_point started;
  EpochTail tail;
};

std::string fixed1(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  return buf;
}

// fork + exec with stdout/stderr appended to `log_path` and OMP_NUM_THREADS
// set; the child gets its own process group so a terminal's Ctrl-C reaches it
// only through the sweep (which forwards it exactly once).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path, int threads) {
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  BASIN_CHECK(fd >= 0, "cannot open '", log_path, "' for writing: ", std::strerror(errno));
  // Everything the child needs is built before fork (only async-signal-safe calls after it).
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env.push_back(*e);
  env.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
  std::vector<char*> envp, args;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(fd);
    fail(cat("fork failed: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execve(args[0], args.data(), envp.data());
    const char msg[] = "basin sweep: exec of the basin binary failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  ::close(fd);
  return pid;
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << '\n';
}

std::string summary_outcome(const std::string& dir) {
  try {
    const json::Value s = json::parse_file((fs::path(dir) / "summary.json").string());
    const json::Value* final_acc = s.find("final_test_accuracy");
    const json::Value* best_acc = s.find("best_test_accuracy");
    if (final_acc && final_acc->is_number() && best_acc && best_acc->is_number() && final_acc->as_double() >= 0)
      return cat(": clean test accuracy ", fixed1(100 * final_acc->as_double()), "% (best ",
                 fixed1(100 * best_acc->as_double()), "%)");
  } catch (const Error&) {
  }
  return "";
}

}  // namespace

std::string shell_line(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789._+=,-/:@%") == std::string::npos;
    std::string quoted = "'";
    for (const char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (out.empty() ? "" : " ") + (plain ? a : quoted + "'");
  }
  return out;
}

int threads_per_job(const SweepSpec& spec) {
  const int64_t all = spec.threads > 0 ? spec.threads : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::max<int64_t>(1, all / spec.jobs));
}

RunLaunch launch_for(const SweepSpec& spec, const RunConfig& run, const std::string& executable) {
  RunLaunch l;
  l.dir = (fs::path(spec.out) / run.name).string();
  l.folder = inspect_run_folder(l.dir);
  if (l.folder.state == RunState::Finished || l.folder.state == RunState::Diverged) return l;
  l.argv = {executable, "train"};
  for (const std::string& a : train_args(spec, run)) l.argv.push_back(a);
  l.argv.push_back("--out=" + l.dir);
  if (l.folder.state == RunState::Resume) l.argv.push_back("--resume=" + l.dir);
  l.argv.push_back("--threads=" + std::to_string(threads_per_job(spec)));
  return l;
}

int run_sweep(const SweepSpec& spec, const std::vector<RunConfig>& runs, const SweepRunOptions& opt) {
  SignalScope signals;
  Progress progress(opt.quiet, 30.0);
  const std::string events = (fs::path(spec.out) / "sweep.jsonl").string();
  const int threads = threads_per_job(spec);
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  std::vector<size_t> queue;
  int64_t epochs_total = 0, epochs_done = 0, skipped = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunFolder f = inspect_run_folder((fs::path(spec.out) / runs[i].name).string());
    epochs_total += runs[i].epochs;
    if (f.state == RunState::Finished || f.state == RunState::Diverged) {
      epochs_done += runs[i].epochs;
      ++skipped;
    } else {
      if (f.state == RunState::Resume) epochs_done += std::min(f.epochs_logged, runs[i].epochs);
      queue.push_back(i);
    }
  }
  progress.line(cat("sweep: ", runs.size(), " runs in ", spec.out, ": ", skipped, " already done, ", queue.size(),
                    " to run, ", spec.jobs, " at a time with ", threads, " threads each"));

  std::vector<Child> active;
  size_t next = 0;
  int64_t finished_now = 0, failed = 0, unfinished = 0;
  double epoch_seconds = 0;  // sum of the epoch times seen in this invocation
  int64_t epochs_seen = 0;
  bool forwarded = false, escalated = false;

  auto status_line = [&](bool force) {
    const int64_t left = epochs_total - epochs_done;
    const double eta = epochs_seen ? left * (epoch_seconds / epochs_seen) /
                                         std::max<int64_t>(1, std::min<int64_t>(spec.jobs, queue.size() - next +
                                                                                            active.size()))
                                   : -1;
    progress.status(cat("sweep: ", skipped + finished_now + failed + unfinished, "/", runs.size(), " runs done, ",
                        active.size(), " running; epochs ", epochs_done, "/", epochs_total, "; ",
                        format_duration(elapsed()), " elapsed, ETA ", format_duration(eta)),
                    force);
  };

  while (true) {
    if (g_signals > 0 && !forwarded) {
      progress.line(cat("sweep: interrupted; stopping ", active.size(), " running training(s)..."));
      for (const Child& c : active) kill(c.pid, SIGINT);
      forwarded = true;
    }
    if (g_signals > 1 && !escalated) {
      for (const Child& c : active) kill(c.pid, SIGKILL);
      escalated = true;
    }
    while (!forwarded && active.size() < static_cast<size_t>(spec.jobs) && next < queue.size()) {
      const RunConfig& run = runs[queue[next++]];
      const RunLaunch l = launch_for(spec, run, opt.executable);
      fs::create_directories(l.dir);
      const std::string log = (fs::path(l.dir) / "train.log").string();
      const bool resume = l.folder.state == RunState::Resume;
      if (!resume) {  // nothing to resume: a stale log of an earlier attempt would mislead the progress
        std::error_code ec;
        fs::remove(fs::path(l.dir) / "run.jsonl", ec);
        fs::remove(fs::path(l.dir) / "summary.json", ec);
      }
      append_line(log, cat("=== basin sweep: ", resume ? "resuming" : "starting", ": ", shell_line(l.argv)));
      Child c{queue[next - 1], spawn(l.argv, log, threads), l.dir, resume ? l.folder.epochs_logged : 0,
              Clock::now(), EpochTail((fs::path(l.dir) / "run.jsonl").string(), resume)};
      progress.line(cat("sweep: ", resume ? cat("resuming ", run.name, " at epoch ", c.epochs_logged)
                                          : cat("starting ", run.name),
                        " (log: ", log, ")"));
      append_line(events, JsonObject().add("type", "run_start").add("run", run.name)
                              .add("mode", resume ? "resume" : "new").add("epochs_done", c.epochs_logged)
                              .add("pid", static_cast<int64_t>(c.pid)).add("elapsed_s", elapsed()).str());
      active.push_back(std::move(c));
    }
    for (Child& c : active)
      c.tail.poll([&](int64_t epoch, double epoch_s) {
        if (epoch <= c.epochs_logged) return;
        epochs_done += std::min(epoch, runs[c.run].epochs) - std::min(c.epochs_logged, runs[c.run].epochs);
        c.epochs_logged = epoch;
        epoch_seconds += epoch_s;
        ++epochs_seen;
      });
    int wstatus = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
      auto it = std::find_if(active.begin(), active.end(), [&](const Child& c) { return c.pid == pid; });
      if (it == active.end()) continue;
      it->tail.poll([&](int64_t epoch, double) {
        if (epoch > it->epochs_logged)
          epochs_done += std::min(epoch, runs[it->run].epochs) - std::min(it->epochs_logged, runs[it->run].epochs);
        it->epochs_logged = std::max(it->epochs_logged, epoch);
      });
      const RunConfig& run = runs[it->run];
      const RunFolder f = inspect_run_folder(it->dir);
      const double wall = std::chrono::duration<double>(Clock::now() - it->started).count();
      const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
      std::string outcome;
      if (f.state == RunState::Finished) {
        ++finished_now;
        outcome = "finished";
      } else if (f.state == RunState::Diverged) {
        ++finished_now;
        outcome = "diverged";
      } else if (code == 0 || forwarded) {
        ++unfinished;
        outcome = "unfinished";
      } else {
        ++failed;
        outcome = "failed";
      }
      progress.line(cat("sweep: ", run.name, " ", outcome,
                        outcome == "failed" ? cat(" (exit code ", code, "; see ", it->dir, "/train.log)")
                                            : cat(" at epoch ", it->epochs_logged, "/", run.epochs),
                        summary_outcome(it->dir), " in ", format_duration(wall)));
      append_line(events, JsonObject().add("type", "run_end").add("run", run.name).add("outcome", outcome)
                              .add("exit_code", code).add("epochs_done", it->epochs_logged).add("wall_s", wall)
                              .add("elapsed_s", elapsed()).str());
      active.erase(it);
    }
    if (active.empty() && (next >= queue.size() || forwarded)) break;
    status_line(false);
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.poll_interval_s));
  }
  status_line(true);
  const int64_t done = skipped + finished_now;
  if (forwarded) {
    progress.line(cat("sweep: interrupted with ", done, " of ", runs.size(),
                      " runs done; the same command continues it (finished runs are skipped, the others resumed):"));
    std::vector<std::string> again = {"basin", "sweep"};
    again.insert(again.end(), spec.command_line.begin(), spec.command_line.end());
    progress.line("  " + shell_line(again));
    return 130;
  }
  progress.line(cat("sweep: ", done, " of ", runs.size(), " runs done", failed ? cat(", ", failed, " failed") : "",
                    unfinished ? cat(", ", unfinished, " stopped unfinished") : "", " in ",
                    format_duration(elapsed()), "; basin report ", spec.out, " --out ",
                    (fs::path(spec.out) / "report.html").string(), " draws them"));
  return failed ? 1 : 0;
}

}  // namespace basin::apps
