// Strict recursive-descent JSON parser and the typed accessors of json::Value.
// Every value records its path while parsing, so a schema check far from the
// parser can still say which field of which file is wrong.
#include "core/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace basin::json {

namespace {
constexpr int kMaxDepth = 256;
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& source)
      : s_(text), source_(std::make_shared<const std::string>(source)) {}

  Value document() {
    skip_space();
    Value v = value("", 0);
    skip_space();
    if (pos_ != s_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    int64_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    fail(cat(*source_, ": malformed JSON at line ", line, ", column ", column, ": ", what));
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void expect(char c) {
    if (peek() != c) error(cat("expected '", c, "'"));
    ++pos_;
  }
  void skip_space() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }

  Value make(Value::Kind kind, const std::string& path) const {
    Value v;
    v.kind_ = kind;
    v.path_ = path;
    v.source_ = source_;
    return v;
  }

  Value value(const std::string& path, int depth) {
    if (depth > kMaxDepth) error(cat("nesting deeper than ", kMaxDepth, " levels"));
    const char c = peek();
    if (c == '{') return object(path, depth);
    if (c == '[') return array(path, depth);
    if (c == '"') {
      Value v = make(Value::Kind::String, path);
      v.text_ = string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(path);
    if (literal("true")) {
      Value v = make(Value::Kind::Bool, path);
      v.bool_ = true;
      return v;
    }
    if (literal("false")) return make(Value::Kind::Bool, path);
    if (literal("null")) return make(Value::Kind::Null, path);
    if (at_end()) error("unexpected end of input, expected a value");
    error(cat("unexpected character '", c, "', expected a value"));
  }

  Value object(const std::string& path, int depth) {
    Value v = make(Value::Kind::Object, path);
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    std::set<std::string> seen;
    for (;;) {
      skip_space();
      if (peek() != '"') error("expected a field name in double quotes");
      const size_t key_pos = pos_;
      std::string key = string();
      if (!seen.insert(key).second) {
        pos_ = key_pos;
        error(cat("field '", key, "' appears twice"));
      }
      skip_space();
      expect(':');
      skip_space();
      Value member = value(path.empty() ? key : path + "." + key, depth + 1);
      v.members_.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Value array(const std::string& path, int depth) {
    Value v = make(Value::Kind::Array, path);
    expect('[');
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_space();
      v.elements_.push_back(value(cat(path, "[", v.elements_.size(), "]"), depth + 1));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  Value number(const std::string& path) {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (digit(peek())) error("number with a leading zero");
    } else if (digit(peek())) {
      while (digit(peek())) ++pos_;
    } else {
      error("expected a digit");
    }
    if (peek() == '.') {
      ++pos_;
      if (!digit(peek())) error("expected a digit after the decimal point");
      while (digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit(peek())) error("expected a digit in the exponent");
      while (digit(peek())) ++pos_;
    }
    Value v = make(Value::Kind::Number, path);
    v.text_ = s_.substr(start, pos_ - start);
    v.number_ = std::strtod(v.text_.c_str(), nullptr);
    if (!std::isfinite(v.number_)) {
      pos_ = start;
      error(cat("number ", v.text_, " is out of the range of a double"));
    }
    return v;
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
      else error("bad hex digit in \\u escape");
    }
    return value;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        error("control character inside a string (escape it)");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!literal("\\u")) error("unpaired high surrogate in \\u escape");
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("invalid low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired low surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: error(cat("unknown escape '\\", e, "'"));
      }
    }
  }

  const std::string& s_;
  std::shared_ptr<const std::string> source_;
  size_t pos_ = 0;
};

const char* Value::kind_name(Kind kind) {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

std::string Value::path() const { return path_.empty() ? "(top level)" : path_; }

const std::string& Value::source() const {
  static const std::string unknown = "<json>";
  return source_ ? *source_ : unknown;
}

void Value::error(const std::string& problem) const {
  fail(cat(source(), ": field '", path(), "': ", problem));
}

namespace {
void expect_kind(const Value& v, Value::Kind kind) {
  if (v.kind() != kind) v.error(cat("expected ", Value::kind_name(kind), ", got ", Value::kind_name(v.kind())));
}
}  // namespace

bool Value::as_bool() const {
  expect_kind(*this, Kind::Bool);
  return bool_;
}

double Value::as_double() const {
  expect_kind(*this, Kind::Number);
  return number_;
}

int64_t Value::as_int64() const {
  expect_kind(*this, Kind::Number);
  if (text_.find_first_of(".eE") != std::string::npos) error(cat("expected an integer, got ", text_));
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text_.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') error(cat("integer ", text_, " does not fit 64 bits"));
  return v;
}

const std::string& Value::as_string() const {
  expect_kind(*this, Kind::String);
  return text_;
}

const std::vector<Value>& Value::as_array() const {
  expect_kind(*this, Kind::Array);
  return elements_;
}

const std::vector<std::pair<std::string, Value>>& Value::members() const {
  expect_kind(*this, Kind::Object);
  return members_;
}

const Value* Value::find(const std::string& key) const {
  for (const auto& [name, v] : members())
    if (name == key) return &v;
  return nullptr;
}

const Value& Value::at(const std::string& key) const {
  const Value* v = find(key);
  if (!v) fail(cat(source(), ": field '", path_.empty() ? key : path_ + "." + key, "' is missing"));
  return *v;
}

const Value& Value::at(size_t index) const {
  const std::vector<Value>& a = as_array();
  if (index >= a.size()) error(cat("index ", index, " out of range (", a.size(), " elements)"));
  return a[index];
}

size_t Value::size() const {
  if (kind_ == Kind::Object) return members_.size();
  return as_array().size();
}

std::vector<double> Value::as_double_array() const {
  std::vector<double> out;
  for (const Value& v : as_array()) out.push_back(v.as_double());
  return out;
}

std::vector<int64_t> Value::as_int64_array() const {
  std::vector<int64_t> out;
  for (const Value& v : as_array()) out.push_back(v.as_int64());
  return out;
}

std::vector<std::string> Value::as_string_array() const {
  std::vector<std::string> out;
  for (const Value& v : as_array()) out.push_back(v.as_string());
  return out;
}

void Value::check_only_fields(const std::vector<std::string>& known) const {
  for (const auto& [name, v] : members()) {
    bool ok = false;
    for (const std::string& k : known) ok |= k == name;
    if (ok) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    v.error(cat("unknown field (expected only: ", list, ")"));
  }
}

Value parse(const std::string& text, const std::string& source) { return Parser(text, source).document(); }

namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BASIN_CHECK(in.is_open(), "JSON file '", path, "' cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  BASIN_CHECK(!in.bad(), "JSON file '", path, "': read error");
  return text.str();
}

}  // namespace

Value parse_file(const std::string& path) { return parse(read_whole_file(path), path); }

std::vector<Value> parse_lines(const std::string& text, const std::string& source, bool allow_torn_tail) {
  std::vector<Value> out;
  size_t begin = 0;
  for (int64_t line = 1; begin < text.size(); ++line) {
    size_t end = text.find('\n', begin);
    const bool torn = end == std::string::npos;
    if (torn) end = text.size();
    const std::string body = text.substr(begin, end - begin);
    begin = end + 1;
    if (body.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(parse(body, cat(source, " line ", line)));
    } catch (const Error&) {
      if (torn && allow_torn_tail) break;
      throw;
    }
  }
  return out;
}

std::vector<Value> parse_lines_file(const std::string& path, bool allow_torn_tail) {
  return parse_lines(read_whole_file(path), path, allow_torn_tail);
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace basin::json
