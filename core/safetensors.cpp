// safetensors reader and writer. The header is read with basin's strict JSON
// reader (core/json) and its schema checked here: every failure names the file
// and the tensor or field at fault.
#include "core/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "core/autograd.h"
#include "core/error.h"
#include "core/json.h"

namespace basin::safetensors {

namespace {

bool host_is_little_endian() {
  const uint32_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

bool parse_file_dtype(const std::string& name, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", DType::F32}, {"F64", DType::F64}, {"I32", DType::I32},
      {"I64", DType::I64}, {"U8", DType::U8}};
  for (const auto& [text, dtype] : table)
    if (name == text) {
      *out = dtype;
      return true;
    }
  return false;
}


// A tensor's bytes as they go to disk: contiguous, on the host.
Tensor host_contiguous(const Tensor& t) {
  NoGrad no_grad;
  Tensor host = t.detach();
  if (!host.device().is_cpu()) host = host.to(Device::cpu());
  return host.contiguous();
}

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Fault injection for the reliability tests (docs/reliability.md), read on
// every save so a test can set it between saves:
//   BASIN_FAULT_WRITE_AFTER_BYTES=N  the write fails with ENOSPC once N bytes
//                                    of the file are written (a full disk);
//   BASIN_FAULT_WRITE_DELAY_MS=M     sleep M ms after the header, so a kill
//                                    test can land inside a checkpoint write.
struct WriteFaults {
  int64_t fail_after_bytes = -1;  // -1: never
  int64_t delay_ms = 0;
};

int64_t fault_setting(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return -1;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  BASIN_CHECK(*end == '\0' && v >= 0, "environment variable ", name, "='", text,
              "': expected a non-negative integer");
  return v;
}

WriteFaults write_faults() {
  WriteFaults f;
  f.fail_after_bytes = fault_setting("BASIN_FAULT_WRITE_AFTER_BYTES");
  f.delay_ms = std::max<int64_t>(0, fault_setting("BASIN_FAULT_WRITE_DELAY_MS"));
  return f;
}

// fsync of the directory holding `path`, so the rename itself survives a crash.
void sync_parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the file itself is already synced
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string encode_header(const NamedTensors& tensors,
                          const std::map<std::string, std::string>& metadata) {
  std::string out = "{";
  bool first = true;
  if (!metadata.empty()) {
    out += "\"__metadata__\":{";
    bool first_meta = true;
    for (const auto& [key, value] : metadata) {
      if (!first_meta) out += ',';
      first_meta = false;
      out += json::quote(key);
      out += ':';
      out += json::quote(value);
    }
    out += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!first) out += ',';
    first = false;
    out += json::quote(name);
    out += cat(":{\"dtype\":\"", file_dtype_name(t.dtype()), "\",\"shape\":[");
    for (size_t d = 0; d < t.shape().size(); ++d) out += cat(d ? "," : "", t.shape()[d]);
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    out += cat("],\"data_offsets\":[", offset, ",", offset + nbytes, "]}");
    offset += nbytes;
  }
  out += '}';
  return out;
}

void save(const std::string& path, const NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata) {
  const std::string where = cat("safetensors '", path, "'");
  BASIN_CHECK(host_is_little_endian(), where, ": writing needs a little-endian host");
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    BASIN_CHECK(!name.empty() && name != "__metadata__", where, ": invalid tensor name '", name,
                "'");
    BASIN_CHECK(seen.insert(name).second, where, ": tensor name '", name, "' given twice");
    BASIN_CHECK(t.defined(), where, ": tensor '", name, "' is undefined");
  }
  std::string header = encode_header(tensors, metadata);
  while (header.size() % 8 != 0) header += ' ';  // keeps the data area 8-byte aligned

  const std::string tmp = cat(path, ".tmp.", static_cast<long>(getpid()));
  const WriteFaults faults = write_faults();
  FILE* f = std::fopen(tmp.c_str(), "wb");
  BASIN_CHECK(f != nullptr, where, ": cannot open '", tmp, "' for writing: ", std::strerror(errno));
  bool ok = true;
  int write_errno = 0;  // the first failure's cause (later calls may change errno)
  int64_t written = 0;
  auto put = [&](const void* bytes, size_t n) {
    if (!ok || n == 0) return;
    if (faults.fail_after_bytes >= 0 && written + static_cast<int64_t>(n) > faults.fail_after_bytes) {
      std::fwrite(bytes, 1, static_cast<size_t>(faults.fail_after_bytes - written), f);
      ok = false;
      write_errno = ENOSPC;
      return;
    }
    ok = std::fwrite(bytes, 1, n, f) == n;
    if (!ok) write_errno = errno;
    written += static_cast<int64_t>(n);
  };
  try {
    uint64_t header_len = header.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(header_len >> (8 * i));
    put(len_bytes, 8);
    put(header.data(), header.size());
    if (faults.delay_ms > 0) {
      std::fflush(f);
      std::this_thread::sleep_for(std::chrono::milliseconds(faults.delay_ms));
    }
    for (const auto& entry : tensors) {
      const Tensor host = host_contiguous(entry.second);
      put(host.raw_data(), static_cast<size_t>(host.numel()) * dtype_size(host.dtype()));
    }
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (ok && !(std::fflush(f) == 0 && fsync(fileno(f)) == 0)) {
    ok = false;
    write_errno = errno;
  }
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (!ok) {
    const std::string reason = std::strerror(write_errno);
    std::remove(tmp.c_str());
    fail(cat(where, ": writing '", tmp, "' failed: ", reason));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    fail(cat(where, ": renaming '", tmp, "' into place failed: ", reason));
  }
  sync_parent_directory(path);
}

File load(const std::string& path) {
  const std::string where = cat("safetensors '", path, "'");
  BASIN_CHECK(host_is_little_endian(), where, ": reading needs a little-endian host");
  std::ifstream in(path, std::ios::binary);
  BASIN_CHECK(in.good(), where, ": cannot open file");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  BASIN_CHECK(file_size >= 8, where, ": file is ", file_size,
              " bytes, shorter than the 8-byte header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  BASIN_CHECK(in.good(), where, ": cannot read the header length");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  BASIN_CHECK(header_len <= kMaxHeaderBytes, where, ": header length ", header_len,
              " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  BASIN_CHECK(header_len <= file_size - 8, where, ": header length ", header_len,
              " runs past the end of the file (", file_size, " bytes)");
  std::string header(static_cast<size_t>(header_len), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  BASIN_CHECK(in.good(), where, ": cannot read the ", header_len, "-byte header");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  // The header is plain JSON (core/json: strict, duplicate keys refused); its
  // schema is checked here, each error naming the file and the field.
  const json::Value root = json::parse(header, where);
  BASIN_CHECK(root.is_object(), where, ": header must be a JSON object, got ",
              json::Value::kind_name(root.kind()));

  File result;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members()) {
    if (name == "__metadata__") {
      for (const auto& [key, item] : value.members()) result.metadata.emplace(key, item.as_string());
      continue;
    }
    const std::string what = cat(where, ": tensor '", name, "'");
    BASIN_CHECK(!name.empty(), where, ": empty tensor name");
    BASIN_CHECK(value.is_object(), what, ": entry must be an object, got ",
                json::Value::kind_name(value.kind()));
    value.check_only_fields({"dtype", "shape", "data_offsets"});
    const std::string& dtype = value.at("dtype").as_string();
    const std::vector<int64_t> shape = value.at("shape").as_int64_array();
    const std::vector<int64_t> offsets = value.at("data_offsets").as_int64_array();
    BASIN_CHECK(offsets.size() == 2, what, ": field 'data_offsets' must be [begin, end], got ",
                offsets.size(), " numbers");
    for (const int64_t n : shape) BASIN_CHECK(n >= 0, what, ": shape holds the negative number ", n);
    for (const int64_t n : offsets)
      BASIN_CHECK(n >= 0, what, ": data_offsets holds the negative number ", n);
    Entry e;
    e.name = name;
    BASIN_CHECK(parse_file_dtype(dtype, &e.dtype), what, ": unsupported dtype '", dtype,
                "' (supported: F32, F64, I32, I64, U8)");
    uint64_t numel = 1;
    for (const int64_t n : shape) {
      const auto d = static_cast<uint64_t>(n);
      // bytes = numel * (at most 8) must fit comfortably in 64 bits
      BASIN_CHECK(d == 0 || numel <= (uint64_t{1} << 56) / d, what, ": shape ",
                  "has too many elements");
      numel *= d;
      e.shape.push_back(static_cast<int64_t>(d));
    }
    e.begin = static_cast<uint64_t>(offsets[0]);
    e.end = static_cast<uint64_t>(offsets[1]);
    BASIN_CHECK(e.begin <= e.end, what, ": data_offsets [", e.begin, ", ", e.end,
                "] has begin after end");
    BASIN_CHECK(e.end <= data_size, what, ": data_offsets [", e.begin, ", ", e.end,
                "] out of range: the data area holds ", data_size, " bytes");
    const uint64_t expected = numel * dtype_size(e.dtype);
    BASIN_CHECK(e.end - e.begin == expected, what, ": dtype ", dtype, " x shape ",
                shape_str(e.shape), " needs ", expected, " bytes but data_offsets span ",
                e.end - e.begin);
    entries.push_back(std::move(e));
  }

  // The spans must tile the data area: no overlap, no hole, nothing trailing.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    BASIN_CHECK(e->begin >= covered, where, ": tensor '", e->name, "' bytes [", e->begin, ", ",
                e->end, ") overlap tensor '", previous ? previous->name : "", "'");
    BASIN_CHECK(e->begin == covered, where, ": bytes [", covered, ", ", e->begin,
                ") of the data area belong to no tensor (before '", e->name, "')");
    covered = e->end;
    previous = e;
  }
  BASIN_CHECK(covered == data_size, where, ": data area is ", data_size,
              " bytes but the tensors cover ", covered, " (truncated or trailing bytes)");

  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype, Device::cpu());
    const uint64_t nbytes = e.end - e.begin;
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(data_start + e.begin), std::ios::beg);
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(nbytes));
      BASIN_CHECK(in.good(), where, ": tensor '", e.name, "': cannot read ", nbytes,
                  " bytes at file offset ", data_start + e.begin);
    }
    result.tensors.emplace_back(e.name, t);
  }
  return result;
}

}  // namespace basin::safetensors
