#include "apps/flags.h"

#include <cstdio>
#include <cstdlib>

#include "apps/json_writer.h"
#include "core/error.h"

namespace basin::apps {

std::string& program_path() {
  static std::string path = "basin";
  return path;
}

std::string format_filesystem_error(const std::filesystem::filesystem_error& e) {
  // libstdc++: "filesystem error: cannot create directories: Permission denied [/x]"
  std::string what = e.what();
  const std::string prefix = "filesystem error: ";
  if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
  const size_t bracket = what.find(" [");
  if (bracket != std::string::npos) what = what.substr(0, bracket);
  std::string paths = e.path1().string();
  if (!e.path2().empty()) paths += " -> " + e.path2().string();
  return paths.empty() ? what : paths + ": " + what;
}

Flags::Flags(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void Flags::add(const std::string& name, const std::string& default_value, const std::string& help) {
  flags_.push_back({name, default_value, default_value, help, false, false});
}

void Flags::add_bool(const std::string& name, const std::string& help, bool default_on) {
  const std::string v = default_on ? "true" : "false";
  flags_.push_back({name, v, v, help, true, false});
}

void Flags::section(const std::string& title) { sections_.push_back({flags_.size(), title}); }

const Flags::Flag& Flags::find(const std::string& name) const {
  for (const Flag& f : flags_)
    if (f.name == name) return f;
  fail(cat("basin ", command_, ": internal: flag --", name, " was never declared"));
}

bool Flags::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    BASIN_CHECK(arg.rfind("--", 0) == 0, "unexpected argument '", arg, "' (flags start with --; see basin ",
                command_, " --help)");
    arg = arg.substr(2);
    std::string value;
    bool has_value = false;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    bool negated = false;
    Flag* flag = nullptr;
    for (Flag& f : flags_) {
      if (f.name == arg) flag = &f;
      else if (f.boolean && "no-" + f.name == arg) { flag = &f; negated = true; }
    }
    BASIN_CHECK(flag != nullptr, "unknown flag --", arg, " (see basin ", command_, " --help)");
    if (flag->boolean) {
      BASIN_CHECK(!has_value || value == "true" || value == "false", "flag --", arg,
                  " takes no value or =true/=false, got '", value, "'");
      flag->value = negated ? "false" : (has_value ? value : "true");
    } else {
      if (!has_value) {
        BASIN_CHECK(i + 1 < argc, "flag --", arg, " needs a value");
        value = argv[++i];
      }
      flag->value = value;
    }
    flag->given = true;
  }
  return true;
}

std::string Flags::str(const std::string& name) const { return find(name).value; }

int64_t Flags::i64(const std::string& name) const {
  const std::string& v = find(name).value;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  BASIN_CHECK(!v.empty() && *end == '\0', "flag --", name, ": expected an integer, got '", v, "'");
  return x;
}

double Flags::f64(const std::string& name) const {
  const std::string& v = find(name).value;
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  BASIN_CHECK(!v.empty() && *end == '\0', "flag --", name, ": expected a number, got '", v, "'");
  return x;
}

bool Flags::on(const std::string& name) const { return find(name).value == "true"; }
bool Flags::given(const std::string& name) const { return find(name).given; }

bool Flags::has(const std::string& name) const {
  for (const Flag& f : flags_)
    if (f.name == name) return true;
  return false;
}

void Flags::set_value(const std::string& name, const std::string& value) {
  Flag& f = const_cast<Flag&>(find(name));
  BASIN_CHECK(!f.boolean || value == "true" || value == "false", "flag --", name,
              " takes true or false, got '", value, "'");
  f.value = value;
}

std::vector<std::pair<std::string, std::string>> Flags::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Flag& f : flags_) out.push_back({f.name, f.value});
  return out;
}

std::string Flags::json() const {
  JsonObject o;
  for (const Flag& f : flags_) {
    const bool numeric = json_typed(f.default_value)[0] != '"';
    if (f.boolean) o.add(f.name, f.value == "true");
    else if (numeric) o.add_typed(f.name, f.value);
    else o.add(f.name, f.value);
  }
  return o.str();
}

std::string Flags::help() const {
  std::string out = "usage: basin " + command_ + " [flags]\n" + summary_ + "\n";
  size_t next_section = 0;
  for (size_t i = 0; i < flags_.size(); ++i) {
    while (next_section < sections_.size() && sections_[next_section].first == i)
      out += "\n" + sections_[next_section++].second + ":\n";
    const Flag& f = flags_[i];
    std::string left = "  --" + (f.boolean && f.default_value == "true" ? "[no-]" : std::string()) + f.name +
                       (f.boolean ? "" : "=" + (f.default_value.empty() ? std::string("\"\"") : f.default_value));
    if (left.size() < 34) left.resize(34, ' ');
    else left += "  ";
    out += left + f.help + "\n";
  }
  return out;
}

}  // namespace basin::apps
