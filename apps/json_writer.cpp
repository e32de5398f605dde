// JSON text for log lines; see json_writer.h.
#include "apps/json_writer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/json.h"

namespace basin::apps {

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  // Seven significant digits: more than a float32 metric carries, short enough to read.
  std::snprintf(buf, sizeof buf, "%.7g", value);
  return buf;
}

namespace {

// RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(const std::string& t) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

}  // namespace

std::string json_typed(const std::string& text) {
  if (text == "true" || text == "false") return text;
  if (is_json_number(text)) return text;
  if (text.find(',') != std::string::npos) {
    std::string array = "[";
    size_t from = 0;
    while (true) {
      const size_t comma = text.find(',', from);
      const std::string part = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
      if (!is_json_number(part)) return json::quote(text);
      array += (from ? "," : "") + part;
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
    return array + "]";
  }
  return json::quote(text);
}

JsonObject& JsonObject::add(const std::string& key, double value) {
  fields_.push_back({key, json_number(value)});
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, int64_t value) {
  fields_.push_back({key, std::to_string(value)});
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, bool value) {
  fields_.push_back({key, value ? "true" : "false"});
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  fields_.push_back({key, json::quote(value)});
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, const std::vector<double>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + json_number(values[i]);
  fields_.push_back({key, s + "]"});
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  fields_.push_back({key, s + "]"});
  return *this;
}
JsonObject& JsonObject::add_raw(const std::string& key, const std::string& json) {
  fields_.push_back({key, json});
  return *this;
}

std::string JsonObject::str() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i)
    out += (i ? "," : "") + json::quote(fields_[i].first) + ":" + fields_[i].second;
  return out + "}";
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    BASIN_CHECK(out.good(), "cannot open '", tmp, "' for writing");
    out << text;
    out.flush();
    BASIN_CHECK(out.good(), "writing '", tmp, "' failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace basin::apps
