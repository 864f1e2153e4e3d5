#include "io/raw_dtype.h"

#include <bit>
#include <cstring>

#include "resnet/error.h"

namespace resnet {
namespace {

static_assert(std::endian::native == std::endian::little, "weight files are little-endian; so is this host");

template <class From, class To, class Convert>
void convert_elements(const std::byte* src, int64_t count, To* dst, Convert convert) {
  for (int64_t i = 0; i < count; ++i) {
    From value;
    std::memcpy(&value, src + i * static_cast<int64_t>(sizeof(From)), sizeof(From));
    dst[i] = convert(value);
  }
}

}  // namespace

size_t raw_dtype_size(RawDType raw) {
  switch (raw) {
    case RawDType::f64:
    case RawDType::i64:
      return 8;
    case RawDType::f32:
    case RawDType::i32:
      return 4;
    case RawDType::f16:
    case RawDType::bf16:
    case RawDType::i16:
      return 2;
    case RawDType::i8:
    case RawDType::u8:
    case RawDType::boolean:
      return 1;
  }
  throw InternalError("raw_dtype_size: unknown dtype");
}

std::string_view raw_dtype_name(RawDType raw) {
  switch (raw) {
    case RawDType::f32:
      return "float32";
    case RawDType::f64:
      return "float64";
    case RawDType::f16:
      return "float16";
    case RawDType::bf16:
      return "bfloat16";
    case RawDType::i8:
      return "int8";
    case RawDType::u8:
      return "uint8";
    case RawDType::i16:
      return "int16";
    case RawDType::i32:
      return "int32";
    case RawDType::i64:
      return "int64";
    case RawDType::boolean:
      return "bool";
  }
  return "?";
}

DType decoded_dtype(RawDType raw) {
  switch (raw) {
    case RawDType::f32:
    case RawDType::f64:
    case RawDType::f16:
      return DType::f32;
    case RawDType::bf16:
      return DType::bf16;
    case RawDType::i8:
      return DType::s8;
    case RawDType::u8:
    case RawDType::boolean:
      return DType::u8;
    case RawDType::i16:
    case RawDType::i32:
    case RawDType::i64:
      return DType::i64;
  }
  throw InternalError("decoded_dtype: unknown dtype");
}

bool decodes_as_copy(RawDType raw) {
  switch (raw) {
    case RawDType::f32:
    case RawDType::bf16:
    case RawDType::i8:
    case RawDType::u8:
    case RawDType::i64:
      return true;
    default:
      return false;
  }
}

float f16_to_f32(uint16_t value) {
  const uint32_t sign = static_cast<uint32_t>(value & 0x8000u) << 16;
  const uint32_t exponent = (value >> 10) & 0x1fu;
  uint32_t mantissa = value & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);  // +-0
  // Subnormal half: normalise into a float exponent.
  int shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  mantissa &= 0x3ffu;
  return std::bit_cast<float>(sign | static_cast<uint32_t>(113 - shift) << 23 | (mantissa << 13));
}

Tensor decode_raw(RawDType raw, Shape shape, const std::byte* bytes) {
  Tensor t(std::move(shape), decoded_dtype(raw));
  const int64_t n = t.numel();
  switch (raw) {
    case RawDType::f64:
      convert_elements<double>(bytes, n, t.data_as<float>(), [](double v) { return static_cast<float>(v); });
      break;
    case RawDType::f16:
      convert_elements<uint16_t>(bytes, n, t.data_as<float>(), f16_to_f32);
      break;
    case RawDType::i16:
      convert_elements<int16_t>(bytes, n, t.data_as<int64_t>(), [](int16_t v) { return int64_t{v}; });
      break;
    case RawDType::i32:
      convert_elements<int32_t>(bytes, n, t.data_as<int64_t>(), [](int32_t v) { return int64_t{v}; });
      break;
    case RawDType::boolean:
      convert_elements<uint8_t>(bytes, n, t.data_as<uint8_t>(), [](uint8_t v) { return uint8_t{v != 0}; });
      break;
    default:  // decodes_as_copy(raw)
      if (t.nbytes() > 0) std::memcpy(t.data(), bytes, t.nbytes());
  }
  return t;
}

}  // namespace resnet
