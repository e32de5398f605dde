// basin::Error and the checks that raise it. Every user-facing failure in the
// engine is one of these, with a message that names the thing that was wrong.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace basin {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenate anything streamable into one string: cat("shape ", 3, "x", 4).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

[[noreturn]] void fail(const std::string& message);

}  // namespace basin

// BASIN_CHECK(cond, parts...): throw basin::Error(cat(parts...)) when cond is false.
#define BASIN_CHECK(cond, ...)                                   \
  do {                                                           \
    if (!(cond)) ::basin::fail(::basin::cat(__VA_ARGS__));       \
  } while (0)
