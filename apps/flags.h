// A small command-line flag parser shared by the subcommands: every flag is
// declared with its default and a one-line help; --help prints them all;
// unknown flags and malformed values are errors that name the flag.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace basin::apps {

// How the user started basin (argv[0]; main() sets it), for commands printed
// back to them such as the one that resumes a run. "basin" until set.
std::string& program_path();

// A std::filesystem error worded like basin's own: "<path>: <what failed>",
// e.g. "/x: cannot create directories: Permission denied".
std::string format_filesystem_error(const std::filesystem::filesystem_error& e);

class Flags {
 public:
  explicit Flags(std::string command, std::string summary);

  // Declare before parse(); the default is also what --help shows.
  void add(const std::string& name, const std::string& default_value, const std::string& help);
  // --name / --no-name; default off unless default_on.
  void add_bool(const std::string& name, const std::string& help, bool default_on = false);
  void section(const std::string& title);  // a heading in --help

  // Accepts --name=value, --name value, --flag, --no-flag. Returns false when
  // --help was printed (the caller exits 0). Throws basin::Error otherwise.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int64_t i64(const std::string& name) const;
  double f64(const std::string& name) const;
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line
  bool has(const std::string& name) const;    // declared
  // Replace a value without marking it given (e.g. a resumed run's saved flags
  // under whatever the command line sets). Booleans take "true"/"false".
  void set_value(const std::string& name, const std::string& value);
  // (name, current value) of every flag, in declaration order.
  std::vector<std::pair<std::string, std::string>> values() const;
  std::string help() const;
  // Every flag as one JSON object, typed by its declaration: a boolean flag
  // true/false, a flag with a numeric default a number (or a list of numbers;
  // text when the value is not one), any other flag a string, so `--out 2024`
  // stays the string "2024".
  std::string json() const;

 private:
  struct Flag {
    std::string name, value, default_value, help;
    bool boolean = false, given = false;
  };
  const Flag& find(const std::string& name) const;

  std::string command_, summary_;
  std::vector<Flag> flags_;
  std::vector<std::pair<size_t, std::string>> sections_;  // (first flag index, title)
};

}  // namespace basin::apps
