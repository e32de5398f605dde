// Running a `basin` subcommand inside a test: its exit code, what it printed on
// stdout and on stderr (each redirected to a file for the call), and the
// message of the basin::Error it threw, if any.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace basin::test {

inline int run_command(int (*cmd)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cmd(static_cast<int>(argv.size()), argv.data());
}

struct CommandOutput {
  int rc = -1;        // -1 when it threw
  std::string out, err, error;
};

// `scratch` is a file path prefix for the two capture files.
inline CommandOutput run_captured(int (*cmd)(int, char**), std::vector<std::string> args,
                                  const std::string& scratch) {
  CommandOutput r;
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  std::FILE* out = std::fopen((scratch + ".out").c_str(), "w");
  std::FILE* err = std::fopen((scratch + ".err").c_str(), "w");
  ::dup2(::fileno(out), 1);
  ::dup2(::fileno(err), 2);
  try {
    r.rc = run_command(cmd, std::move(args));
  } catch (const Error& e) {
    r.error = e.what();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  std::fclose(out);
  std::fclose(err);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  r.out = slurp(scratch + ".out");
  r.err = slurp(scratch + ".err");
  std::remove((scratch + ".out").c_str());
  std::remove((scratch + ".err").c_str());
  return r;
}

}  // namespace basin::test
