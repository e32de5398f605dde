// A small strict JSON reader (RFC 8259: no comments, no trailing commas, no
// NaN, no duplicate keys) for the files and log lines basin reads back: parse
// into a tree of Values whose typed accessors throw basin::Error naming the
// source and the field's path, e.g. "f.json: field 'mean[2]': expected a number, got a string".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace basin::json {

class Value {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  // Typed accessors: each throws (naming source and path) when the kind differs.
  bool as_bool() const;
  double as_double() const;
  // An integer written without fraction or exponent that fits int64.
  int64_t as_int64() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  // Object members in file order.
  const std::vector<std::pair<std::string, Value>>& members() const;

  // Object access: at() throws "missing field" when absent; find() returns null.
  const Value& at(const std::string& key) const;
  const Value* find(const std::string& key) const;
  // Array access with a range check.
  const Value& at(size_t index) const;
  size_t size() const;  // elements of an array or members of an object

  // Convenience: every element of an array, typed.
  std::vector<double> as_double_array() const;
  std::vector<int64_t> as_int64_array() const;
  std::vector<std::string> as_string_array() const;

  // Throws unless every member name is in `known` (strict schemas catch typos).
  void check_only_fields(const std::vector<std::string>& known) const;

  // "mean[2]", "image.height"; "(top level)" for the root.
  std::string path() const;
  const std::string& source() const;
  // Throws "<source>: field '<path>': <problem>".
  [[noreturn]] void error(const std::string& problem) const;

  static const char* kind_name(Kind kind);  // "a number", "an object", ...

 private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;  // String value, or a Number's literal text (for exact integers)
  std::vector<Value> elements_;
  std::vector<std::pair<std::string, Value>> members_;
  std::string path_;
  std::shared_ptr<const std::string> source_;
};

// Parses one JSON document. `source` names it in errors ("f.json",
// "run.jsonl line 3"). Syntax errors give the line and column.
Value parse(const std::string& text, const std::string& source);
// The whole file; errors name the path.
Value parse_file(const std::string& path);

// JSON Lines: one document per line, blank lines skipped; errors name
// "<source> line N". With allow_torn_tail, a last line that lacks its newline
// and does not parse (its writer was stopped mid-line) is dropped instead.
std::vector<Value> parse_lines(const std::string& text, const std::string& source, bool allow_torn_tail = false);
std::vector<Value> parse_lines_file(const std::string& path, bool allow_torn_tail = false);

// `text` as a JSON string literal, quotes included.
std::string quote(const std::string& text);

}  // namespace basin::json
