// Element types a tensor can hold. f32 is the training type; f64 exists so the
// CPU backend can check gradients by finite differences; the integer types hold
// labels, indices and uint8 images.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace basin {

enum class DType : uint8_t { F32, F64, I32, I64, U8 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "f32", "f64", "i32", "i64", "u8"
bool is_floating(DType dtype);
DType parse_dtype(const std::string& name);  // inverse of dtype_name

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <class T> constexpr DType dtype_of = DTypeOf<T>::value;

}  // namespace basin
