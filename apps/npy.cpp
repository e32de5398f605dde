// .npy v1.0 writer; see npy.h.
#include "apps/npy.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "data/file_io.h"

namespace basin::apps {

std::string npy_header_f32(const Shape& shape) {
  // Python tuple syntax: (), (n,), (a, b, c)
  std::string dims = "(";
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  dims += shape.size() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + dims + ", }";
  // magic(6) + version(2) + header length(2) + dict + padding + '\n' = multiple of 64
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  BASIN_CHECK(dict.size() <= 65535, "npy header too long for format 1.0 (shape ", shape_str(shape), ")");
  std::string header("\x93NUMPY", 6);
  header += static_cast<char>(1);
  header += static_cast<char>(0);
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>((dict.size() >> 8) & 0xff);
  return header + dict;
}

void check_npy_destination(const std::string& path) {
  namespace fs = std::filesystem;
  BASIN_CHECK(!path.empty(), "npy output: empty path");
  BASIN_CHECK(!fs::is_directory(path), "npy output '", path, "' is a directory; give a file name");
  const fs::path parent = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  BASIN_CHECK(fs::is_directory(parent), "npy output '", path, "': folder '", parent.string(), "' does not exist");
  const fs::path probe = parent / cat(".basin-write-probe-", ::getpid());
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  BASIN_CHECK(f != nullptr, "npy output '", path, "': cannot create a file in '", parent.string(),
              "': ", std::strerror(errno));
  std::fclose(f);
  std::remove(probe.c_str());
}

void write_npy_f32(const std::string& path, const Tensor& values) {
  BASIN_CHECK(values.defined(), "write_npy_f32 '", path, "': undefined tensor");
  const Tensor host = values.to(Device::cpu()).to(DType::F32).contiguous();
  const std::string header = npy_header_f32(host.shape());
  std::vector<uint8_t> bytes(header.begin(), header.end());
  const size_t data_bytes = static_cast<size_t>(host.numel()) * sizeof(float);
  const size_t start = bytes.size();
  bytes.resize(start + data_bytes);
  // The engine is little-endian only (x86-64, aarch64), as '<f4' states.
  if (data_bytes) std::memcpy(bytes.data() + start, host.data<float>(), data_bytes);
  data::write_file_atomic(path, bytes);
}

}  // namespace basin::apps
