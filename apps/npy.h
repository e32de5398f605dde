// .npy (NumPy format version 1.0) writer for logits dumps: magic, a header
// dict padded so the data starts on a 64-byte boundary, then float32 little-endian.
#pragma once
#include <string>

#include "core/tensor.h"

namespace basin::apps {

// Any floating tensor on any device; written as '<f4' C-order. Atomic (temp + rename).
void write_npy_f32(const std::string& path, const Tensor& values);

// Refuses, before any work, a path write_npy_f32 could not write: a missing
// folder, a directory, or a folder where no file can be created (probed with a
// temporary file, removed at once).
void check_npy_destination(const std::string& path);

// The header bytes write_npy_f32 puts before the data (tests).
std::string npy_header_f32(const Shape& shape);

}  // namespace basin::apps
