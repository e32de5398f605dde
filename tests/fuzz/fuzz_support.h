// Shared by the libFuzzer targets (docs/reliability.md). basin's loaders read
// paths, so each input is written to a per-process scratch directory and the
// loader basin itself uses is called on it. A basin::Error is the clean
// rejection every parser owes bad bytes; anything else (another exception,
// a sanitizer report, a crash, a hang) escapes to libFuzzer as a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace basin::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d =
        std::filesystem::temp_directory_path() / ("basin-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes bytes to scratch_dir()/relative (parents created); returns the path.
inline std::string write_input(const std::string& relative, const uint8_t* data, size_t size) {
  const std::filesystem::path path = scratch_dir() / relative;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path.string();
}

// Runs f and swallows only basin::Error.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const basin::Error&) {
  }
}

}  // namespace basin::fuzz
