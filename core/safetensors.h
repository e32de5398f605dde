// safetensors files: 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte span, then the raw little-endian data.
// Writes go to a temporary file that is renamed (never half-written); loads are
// validated completely before any tensor is returned.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace basin {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

namespace safetensors {

// Largest header accepted by load (bytes of JSON).
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct File {
  NamedTensors tensors;                        // in header order, contiguous CPU tensors
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Tensors may live on any device and be strided; names must be unique and
// non-empty, "__metadata__" is reserved. Dtypes f32 f64 i32 i64 u8 map to
// F32 F64 I32 I64 U8.
void save(const std::string& path, const NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata = {});

// Throws basin::Error naming the file and the tensor or field at fault.
File load(const std::string& path);

// Header text save() would write (tests, and tools that inspect files).
std::string encode_header(const NamedTensors& tensors,
                          const std::map<std::string, std::string>& metadata);

}  // namespace safetensors
}  // namespace basin
