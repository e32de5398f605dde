// A tiny JSON object builder for the apps' log lines (run.jsonl, summary.json,
// eval output): keys in insertion order, non-finite numbers written as null so
// every line stays valid JSON.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace basin::apps {

// A setting's text as the JSON value it means: "true"/"false" a boolean, a
// number a number (its text kept, so no digit is lost), a comma list of
// numbers an array, anything else a string.
std::string json_typed(const std::string& text);

class JsonObject {
 public:
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, const std::vector<double>& values);
  JsonObject& add(const std::string& key, const std::vector<int64_t>& values);
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& add_raw(const std::string& key, const std::string& json);
  // A setting kept as text (a flag, an optimizer option): see json_typed.
  JsonObject& add_typed(const std::string& key, const std::string& text) { return add_raw(key, json_typed(text)); }
  std::string str() const;  // one line, no trailing newline

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string json_number(double value);  // 7 significant digits; null when not finite

// Writes `text` to path + ".tmp" and renames it into place, so a reader (or a
// run killed mid-write) never sees half a file.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace basin::apps
