// safetensors I/O: round trips of every dtype, the exact byte layout, and
// corrupted files (each must raise a basin::Error that names the file).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/ops.h"
#include "core/safetensors.h"

using namespace basin;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("basin_st_test_" + std::to_string(getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A file made of a given header text and `data_bytes` bytes of data.
std::string raw_file(const std::string& header, size_t data_bytes) {
  std::string data(data_bytes, '\x5a');
  return le64(header.size()) + header + data;
}

// load(path) must throw an Error mentioning the file and `needle`.
void expect_load_error(const std::string& path, const std::string& needle) {
  std::string message;
  try {
    safetensors::load(path);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO("message: ", message);
  REQUIRE_FALSE(message.empty());
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find(needle) != std::string::npos);
}

template <class T>
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const auto va = a.contiguous().to_vector<T>(), vb = b.contiguous().to_vector<T>();
  return va.size() == vb.size() &&
         (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)) == 0);
}

}  // namespace

TEST_CASE("core: safetensors round trip keeps order, dtypes, shapes, bits and metadata") {
  TempDir dir;
  const std::string path = dir.file("mixed.safetensors");
  Tensor f32 = from_vector<float>({1.5f, -2.25f, 3.0e-7f, 4.0f, -5.5f, 6.125f}, {2, 3});
  Tensor f64 = from_vector<double>({3.141592653589793, -1e-300, 2.5, 7.0}, {4});
  Tensor i32 = from_vector<int32_t>({-123456}, {});
  Tensor i64 = from_vector<int64_t>({int64_t{1} << 40, -7, 9}, {3, 1});
  Tensor u8 = from_vector<uint8_t>({0, 1, 254, 255, 17}, {5});
  Tensor empty_f32 = zeros({0, 3});
  Tensor strided = f32.t();  // [3, 2], not contiguous: saved in logical order
  NamedTensors tensors = {{"z.last_name_first", f32}, {"b", f64},       {"a.scalar", i32},
                          {"i64", i64},               {"bytes", u8},    {"empty", empty_f32},
                          {"strided", strided}};
  std::map<std::string, std::string> meta = {
      {"quote", "a \"quoted\" \\ path\nnew line\ttab"}, {"unicode", "caf\xc3\xa9 \xf0\x9f\x98\x80"}};
  safetensors::save(path, tensors, meta);

  const safetensors::File back = safetensors::load(path);
  REQUIRE(back.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) CHECK(back.tensors[i].first == tensors[i].first);
  CHECK(same_bits<float>(back.tensors[0].second, f32));
  CHECK(same_bits<double>(back.tensors[1].second, f64));
  CHECK(same_bits<int32_t>(back.tensors[2].second, i32));
  CHECK(back.tensors[2].second.shape() == Shape{});
  CHECK(same_bits<int64_t>(back.tensors[3].second, i64));
  CHECK(same_bits<uint8_t>(back.tensors[4].second, u8));
  CHECK(back.tensors[5].second.shape() == Shape{0, 3});
  CHECK(back.tensors[6].second.shape() == Shape{3, 2});
  const auto s = back.tensors[6].second.to_vector<float>();
  CHECK(s == std::vector<float>({1.5f, 4.0f, -2.25f, -5.5f, 3.0e-7f, 6.125f}));
  CHECK(back.metadata == meta);
  // no temporary file left behind
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) { (void)entry; ++files; }
  CHECK(files == 1);
}

TEST_CASE("core: safetensors byte layout matches the format") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  safetensors::save(path, {{"w", from_vector<float>({1.0f, 2.0f}, {2})},
                           {"n", from_vector<int64_t>({5}, {1})}});
  const std::string bytes = read_bytes(path);
  const std::string expected_header =
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  CHECK(header_len % 8 == 0);  // padded so the data area is aligned
  const std::string header = bytes.substr(8, header_len);
  CHECK(header.substr(0, expected_header.size()) == expected_header);
  CHECK(header.find_first_not_of(' ', expected_header.size()) == std::string::npos);
  REQUIRE(bytes.size() == 8 + header_len + 16);
  float w[2];
  int64_t n;
  std::memcpy(w, bytes.data() + 8 + header_len, 8);
  std::memcpy(&n, bytes.data() + 8 + header_len + 8, 8);
  CHECK(w[0] == 1.0f);
  CHECK(w[1] == 2.0f);
  CHECK(n == 5);
}

TEST_CASE("core: safetensors parser accepts whitespace, escapes and foreign files") {
  TempDir dir;
  const std::string path = dir.file("foreign.safetensors");
  // Key order, whitespace and \u escapes as another writer may produce them.
  const std::string header =
      " { \"__metadata__\" : { \"format\" : \"pt\" } ,\n \"a\\u00e9\\ud83d\\ude00\\/x\" : {"
      " \"shape\" : [ 1 , 2 ] , \"data_offsets\" : [ 0 , 8 ] , \"dtype\" : \"I32\" } }   ";
  std::string file = le64(header.size()) + header;
  const int32_t values[2] = {-3, 40000};
  file.append(reinterpret_cast<const char*>(values), 8);
  write_bytes(path, file);
  const safetensors::File back = safetensors::load(path);
  REQUIRE(back.tensors.size() == 1);
  CHECK(back.tensors[0].first == "a\xc3\xa9\xf0\x9f\x98\x80/x");
  CHECK(back.tensors[0].second.to_vector<int32_t>() == std::vector<int32_t>({-3, 40000}));
  CHECK(back.metadata.at("format") == "pt");
}

TEST_CASE("core: safetensors rejects corrupted files, naming the file") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string good_path = dir.file("good.safetensors");
  safetensors::save(good_path, {{"w", from_vector<float>({1, 2, 3, 4}, {2, 2})},
                                {"b", from_vector<float>({5, 6}, {2})}});
  const std::string good = read_bytes(good_path);
  const std::string one = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

  SUBCASE("truncated data") {
    write_bytes(path, good.substr(0, good.size() - 3));
    expect_load_error(path, "out of range");
  }
  SUBCASE("truncated header") {
    write_bytes(path, good.substr(0, 20));
    expect_load_error(path, "runs past the end of the file");
  }
  SUBCASE("shorter than the length field") {
    write_bytes(path, good.substr(0, 5));
    expect_load_error(path, "shorter than the 8-byte header length");
  }
  SUBCASE("header length over the limit") {
    write_bytes(path, le64(200ull * 1000 * 1000) + good.substr(8));
    expect_load_error(path, "exceeds the limit");
  }
  SUBCASE("offsets out of range") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8));
    expect_load_error(path, "out of range");
  }
  SUBCASE("begin after end") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8));
    expect_load_error(path, "begin after end");
  }
  SUBCASE("dtype x shape does not match the span") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "needs 16 bytes");
  }
  SUBCASE("shape too large") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
                               "\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "too many elements");
  }
  SUBCASE("duplicate names") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                               "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                               8));
    expect_load_error(path, "field 't' appears twice");
  }
  SUBCASE("overlapping spans") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                               "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                               8));
    expect_load_error(path, "overlap");
  }
  SUBCASE("hole in the data area") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8));
    expect_load_error(path, "belong to no tensor");
  }
  SUBCASE("trailing bytes") {
    write_bytes(path, raw_file(one, 12));
    expect_load_error(path, "trailing");
  }
  SUBCASE("unsupported dtype") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "unsupported dtype 'BF16'");
  }
  SUBCASE("missing field") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "field 't.shape' is missing");
  }
  SUBCASE("unknown field") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
                               "\"extra\":[1]}}", 8));
    expect_load_error(path, "field 't.extra': unknown field");
  }
  SUBCASE("malformed JSON: unterminated object") {
    write_bytes(path, raw_file(one.substr(0, one.size() - 1), 8));
    expect_load_error(path, "malformed JSON");
  }
  SUBCASE("negative shape") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "shape holds the negative number -2");
  }
  SUBCASE("fractional shape") {
    write_bytes(path, raw_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "field 't.shape[0]': expected an integer, got 2.0");
  }
  SUBCASE("malformed JSON: bad escape") {
    write_bytes(path, raw_file("{\"t\\q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
    expect_load_error(path, "unknown escape");
  }
  SUBCASE("malformed JSON: trailing garbage") {
    write_bytes(path, raw_file(one + "x", 8));
    expect_load_error(path, "unexpected text");
  }
  SUBCASE("header is not an object") {
    write_bytes(path, raw_file("[1,2]", 0));
    expect_load_error(path, "must be a JSON object");
  }
  SUBCASE("metadata value not a string") {
    write_bytes(path, raw_file("{\"__metadata__\":{\"k\":[1]}}", 0));
    expect_load_error(path, "field '__metadata__.k': expected a string, got an array");
  }
  SUBCASE("missing file") {
    expect_load_error(dir.file("absent.safetensors"), "cannot open");
  }
}

TEST_CASE("core: safetensors save is all-or-nothing") {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  safetensors::save(path, {{"x", from_vector<float>({7}, {1})}});
  const std::string before = read_bytes(path);
  CHECK_THROWS_AS(safetensors::save(path, {{"x", ones({2})}, {"x", ones({2})}}), Error);
  CHECK_THROWS_AS(safetensors::save(path, {{"__metadata__", ones({2})}}), Error);
  CHECK_THROWS_AS(safetensors::save(path, {{"u", Tensor()}}), Error);
  CHECK(read_bytes(path) == before);
  std::string message;
  try {
    safetensors::save(dir.file("no/such/dir/x.safetensors"), {{"x", ones({1})}});
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("no/such/dir/x.safetensors") != std::string::npos);
}

// A full disk in the middle of a write (the BASIN_FAULT_WRITE_AFTER_BYTES hook
// of safetensors::save): a clear error naming the file and the cause, no temp
// file left behind, and the previous file byte-identical and loadable.
TEST_CASE("core: safetensors save on a full disk keeps the previous file") {
  TempDir dir;
  const std::string path = dir.file("ck.safetensors");
  const Tensor old_weights = from_vector<float>({1.5f, -2.25f, 3.0f}, {3});
  safetensors::save(path, {{"w", old_weights}}, {{"epoch", "1"}});
  const std::string before = read_bytes(path);
  const Tensor new_weights = from_vector<float>({9.0f, 8.0f, 7.0f, 6.0f}, {4});
  // Every cut: inside the length, the header, the data, and exactly at the end of the data.
  const size_t full_size = before.size() + sizeof(float);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, before.size() - 2, full_size - 1}) {
    CAPTURE(cut);
    setenv("BASIN_FAULT_WRITE_AFTER_BYTES", std::to_string(cut).c_str(), 1);
    std::string message;
    try {
      safetensors::save(path, {{"w", new_weights}}, {{"epoch", "2"}});
    } catch (const Error& e) {
      message = e.what();
    }
    unsetenv("BASIN_FAULT_WRITE_AFTER_BYTES");
    CHECK(message.find("ck.safetensors") != std::string::npos);
    CHECK(message.find(std::strerror(ENOSPC)) != std::string::npos);
    CHECK(read_bytes(path) == before);
    const safetensors::File loaded = safetensors::load(path);
    REQUIRE(loaded.tensors.size() == 1);
    CHECK(loaded.tensors[0].second.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f});
    CHECK(loaded.metadata.at("epoch") == "1");
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) files += entry.is_regular_file();
    CHECK(files == 1);  // no temp file left
  }
  // The hook set past the file's size changes nothing.
  setenv("BASIN_FAULT_WRITE_AFTER_BYTES", std::to_string(full_size + 100).c_str(), 1);
  safetensors::save(path, {{"w", new_weights}}, {{"epoch", "2"}});
  unsetenv("BASIN_FAULT_WRITE_AFTER_BYTES");
  CHECK(safetensors::load(path).metadata.at("epoch") == "2");
  // A malformed setting is an error naming the variable, not a silent no-op.
  setenv("BASIN_FAULT_WRITE_AFTER_BYTES", "12k", 1);
  CHECK_THROWS_WITH_AS(safetensors::save(path, {{"w", new_weights}}),
                       doctest::Contains("BASIN_FAULT_WRITE_AFTER_BYTES"), Error);
  unsetenv("BASIN_FAULT_WRITE_AFTER_BYTES");
}
