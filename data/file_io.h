// Whole-file reads and atomic writes shared by the loaders, and the one shape
// of loader error: "<what>: file '<path>', byte <offset>: <problem>".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace basin::data {

[[noreturn]] void format_error(const std::string& path, uint64_t offset, const std::string& problem);

// The whole file; throws naming the path when it cannot be opened or read.
std::vector<uint8_t> read_file_bytes(const std::string& path);
// Raw or gzip'd (detected by the magic bytes 1f 8b) file, decompressed.
// max_bytes > 0 stops after that many decompressed bytes (fast partial reads).
std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes = 0);
bool is_gzip_file(const std::string& path);
// Writes to "<path>.tmp.<pid>" and renames, so a failure never leaves half a file.
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace basin::data
