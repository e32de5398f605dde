// core/json: the strict reader's accepted grammar, the values it produces
// (checked against hand-written expectations), and errors that name the
// source, the field path and the line/column of a syntax error.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/json.h"

using namespace basin;

namespace {
std::string message_of(const std::string& text) {
  try {
    json::parse(text, "t.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "<nothing thrown>";
}
}  // namespace

TEST_CASE("core: json parses nested values with typed accessors") {
  const json::Value v = json::parse(
      "{\"name\": \"fa\\u00e9\\n\\\"x\\\"\", \"n\": -12, \"x\": 2.5e-3, \"ok\": true, \"none\": null,\n"
      " \"list\": [1, 2, 3], \"nested\": {\"inner\": [[0, 1], [2, 3]]}, \"empty\": {}, \"e\": []}",
      "t.json");
  CHECK(v.is_object());
  CHECK(v.size() == 9);
  CHECK(v.at("name").as_string() == "fa\xc3\xa9\n\"x\"");
  CHECK(v.at("n").as_int64() == -12);
  CHECK(v.at("n").as_double() == -12.0);
  CHECK(v.at("x").as_double() == 0.0025);
  CHECK(v.at("ok").as_bool());
  CHECK(v.at("none").is_null());
  CHECK(v.at("list").as_int64_array() == std::vector<int64_t>{1, 2, 3});
  CHECK(v.at("nested").at("inner").at(1).at(0).as_int64() == 2);
  CHECK(v.at("nested").at("inner").at(1).at(0).path() == "nested.inner[1][0]");
  CHECK(v.at("empty").size() == 0);
  CHECK(v.at("e").size() == 0);
  CHECK(v.find("absent") == nullptr);
  CHECK(v.members()[0].first == "name");  // file order kept
  // Exact 64-bit integers (a double would lose the last digit).
  CHECK(json::parse("9007199254740993", "t").as_int64() == 9007199254740993LL);
}

TEST_CASE("core: json type and schema errors name the source and the field path") {
  const json::Value v = json::parse("{\"mean\": [0.5, \"a\"], \"image\": {\"h\": 3.5}, \"typo\": 1}", "meta.json");
  CHECK_THROWS_WITH_AS(v.at("mean").as_double_array(),
                       "meta.json: field 'mean[1]': expected a number, got a string", Error);
  CHECK_THROWS_WITH_AS(v.at("image").at("h").as_int64(), "meta.json: field 'image.h': expected an integer, got 3.5",
                       Error);
  CHECK_THROWS_WITH_AS(v.at("image").at("w"), "meta.json: field 'image.w' is missing", Error);
  CHECK_THROWS_WITH_AS(v.at("mean").at(5), doctest::Contains("field 'mean': index 5 out of range (2 elements)"),
                       Error);
  CHECK_THROWS_WITH_AS(v.check_only_fields({"mean", "image"}),
                       "meta.json: field 'typo': unknown field (expected only: mean, image)", Error);
  CHECK_THROWS_WITH_AS(v.at("mean").as_string(), doctest::Contains("expected a string, got an array"), Error);
  CHECK_THROWS_WITH_AS(json::parse("1e400", "big").as_double(), doctest::Contains("out of the range"), Error);
  CHECK_THROWS_WITH_AS(json::parse("99999999999999999999", "t").as_int64(), doctest::Contains("does not fit"),
                       Error);
}

TEST_CASE("core: json rejects what RFC 8259 rejects, with line and column") {
  CHECK(message_of("{\"a\": 1,\n \"b\": }") == "t.json: malformed JSON at line 2, column 7: unexpected character "
                                                "'}', expected a value");
  CHECK(message_of("{\"a\": 1,}").find("expected a field name") != std::string::npos);
  CHECK(message_of("[1, 2,]").find("expected a value") != std::string::npos);
  CHECK(message_of("{\"a\": 1, \"a\": 2}").find("field 'a' appears twice") != std::string::npos);
  CHECK(message_of("01").find("leading zero") != std::string::npos);
  CHECK(message_of("NaN").find("expected a value") != std::string::npos);
  CHECK(message_of("1.").find("after the decimal point") != std::string::npos);
  CHECK(message_of("\"a\tb\"").find("control character") != std::string::npos);
  CHECK(message_of("\"\\ud800\"").find("unpaired high surrogate") != std::string::npos);
  CHECK(message_of("{} x").find("unexpected text after") != std::string::npos);
  CHECK(message_of("// c\n{}").find("line 1, column 1") != std::string::npos);
  CHECK(message_of("").find("unexpected end of input") != std::string::npos);
  CHECK(message_of(std::string(300, '[')).find("nesting deeper") != std::string::npos);
}

TEST_CASE("core: json quote round-trips through the parser") {
  const std::string text = std::string("tab\t nl\n quote\" back\\ ctl") + char(1) + " \xc3\xa9";
  CHECK(json::quote("a\"b") == "\"a\\\"b\"");
  CHECK(json::parse(json::quote(text), "q").as_string() == text);
}

TEST_CASE("core: json lines parse one document per line and may drop a torn last line") {
  const std::vector<json::Value> v = json::parse_lines("{\"a\": 1}\n\n{\"a\": 2}\n{\"a\": 3", "r.jsonl", true);
  REQUIRE(v.size() == 2);
  CHECK(v[1].at("a").as_int64() == 2);
  CHECK(json::parse_lines("{\"a\": 1}\n{\"a\": 3}", "r.jsonl").size() == 2);  // a whole last line is kept
  CHECK_THROWS_WITH_AS(json::parse_lines("{\"a\": 1}\n{\"a\": 3", "r.jsonl"), doctest::Contains("r.jsonl line 2"),
                       Error);
  // Only the unterminated last line may be torn: a bad line in the middle stays an error.
  CHECK_THROWS_WITH_AS(json::parse_lines("{\"a\": 1}\n{\"a\": \n{\"a\": 3}\n", "r.jsonl", true),
                       doctest::Contains("r.jsonl line 2"), Error);
}
