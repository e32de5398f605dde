// core/json, the strict reader behind basin-dataset.json and run.jsonl: parse,
// then walk the tree through every typed accessor, as the schema readers do.
#include "core/json.h"
#include "fuzz_support.h"

namespace {

void walk(const basin::json::Value& v, int depth) {
  using basin::fuzz::expect_clean;
  v.path();
  expect_clean([&] { v.as_bool(); });
  expect_clean([&] { v.as_double(); });
  expect_clean([&] { v.as_int64(); });
  expect_clean([&] { v.as_string(); });
  expect_clean([&] { v.as_double_array(); });
  expect_clean([&] { v.as_int64_array(); });
  expect_clean([&] { v.as_string_array(); });
  expect_clean([&] { v.check_only_fields({"a", "name"}); });
  expect_clean([&] { v.at("name"); });
  expect_clean([&] { v.at(size_t{3}); });
  if (depth > 64) return;
  if (v.is_array())
    for (const basin::json::Value& e : v.as_array()) walk(e, depth + 1);
  if (v.is_object())
    for (const auto& member : v.members()) walk(member.second, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  basin::fuzz::expect_clean([&] { walk(basin::json::parse(text, "fuzz.json"), 0); });
  return 0;
}
