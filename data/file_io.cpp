// File access for the loaders: whole-file reads (raw or gzip through zlib) and
// write-to-temp-then-rename, so a crashed writer never leaves a truncated file.
#include "data/file_io.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace basin::data {

void format_error(const std::string& path, uint64_t offset, const std::string& problem) {
  fail(cat("file '", path, "', byte offset ", offset, ": ", problem));
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BASIN_CHECK(in.is_open(), "cannot open file '", path, "': ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  BASIN_CHECK(size >= 0, "cannot determine the size of file '", path, "'");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  BASIN_CHECK(in.good() || in.eof(), "error reading file '", path, "'");
  BASIN_CHECK(in.gcount() == size || size == 0, "file '", path, "': read ", in.gcount(), " of ",
              size, " bytes");
  return bytes;
}

bool is_gzip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BASIN_CHECK(in.is_open(), "cannot open file '", path, "': ", std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes) {
  if (!is_gzip_file(path)) {
    std::vector<uint8_t> bytes = read_file_bytes(path);
    if (max_bytes > 0 && bytes.size() > max_bytes) bytes.resize(max_bytes);
    return bytes;
  }
  gzFile file = gzopen(path.c_str(), "rb");
  BASIN_CHECK(file != nullptr, "cannot open gzip file '", path, "'");
  std::vector<uint8_t> bytes;
  const size_t chunk = 1 << 20;
  for (;;) {
    size_t want = chunk;
    if (max_bytes > 0) {
      if (bytes.size() >= max_bytes) break;
      want = std::min<size_t>(chunk, max_bytes - bytes.size());
    }
    const size_t old_size = bytes.size();
    bytes.resize(old_size + want);
    const int got = gzread(file, bytes.data() + old_size, static_cast<unsigned>(want));
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      format_error(path, old_size, cat("gzip decompression failed: ", message,
                                       " (offset is in the decompressed stream)"));
    }
    bytes.resize(old_size + static_cast<size_t>(got));
    if (static_cast<size_t>(got) < want) break;
  }
  gzclose(file);
  return bytes;
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string temp = cat(path, ".tmp.", static_cast<long>(getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    BASIN_CHECK(out.is_open(), "cannot create file '", temp, "': ", std::strerror(errno));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out.good()) {
      out.close();
      std::remove(temp.c_str());
      fail(cat("error writing file '", temp, "' (", bytes.size(), " bytes)"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::remove(temp.c_str());
    fail(cat("cannot rename '", temp, "' to '", path, "': ", ec.message()));
  }
}

}  // namespace basin::data
