#include "core/dtype.h"

#include "core/error.h"

namespace basin {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  fail("dtype_size: unknown dtype");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

bool is_floating(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }

DType parse_dtype(const std::string& name) {
  for (DType d : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8})
    if (name == dtype_name(d)) return d;
  fail(cat("unknown dtype '", name, "' (expected f32, f64, i32, i64 or u8)"));
}

}  // namespace basin
