// TempDir for the data tests: a fresh, uniquely named directory under the
// system temp dir, removed with everything in it when the test ends.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace basin::test {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "basin-data") {
    static std::atomic<int> counter{0};
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            (tag + "-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The message of the basin::Error that f throws (a marker when it throws
// nothing or something else, so Contains-checks on it fail).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const basin::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a basin::Error: ") + e.what() + ">";
  }
  return "<nothing thrown>";
}

}  // namespace basin::test
