// Element types as weight files store them (little-endian), and their decoding into the Tensor dtypes the
// library computes with: f64/f16 become f32, i16/i32 become i64, bool becomes u8; the rest are kept as
// stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resnet/tensor.h"

namespace resnet {

enum class RawDType : uint8_t { f32, f64, f16, bf16, i8, u8, i16, i32, i64, boolean };

size_t raw_dtype_size(RawDType raw);
std::string_view raw_dtype_name(RawDType raw);  // "float32", "float16", ... (as torch calls them)
DType decoded_dtype(RawDType raw);
// True when decoding is a plain byte copy (the file stores the dtype the library computes with).
bool decodes_as_copy(RawDType raw);

// Decodes shape_numel(shape) contiguous elements from `bytes` (which holds at least that many) into a new
// tensor.
Tensor decode_raw(RawDType raw, Shape shape, const std::byte* bytes);

// IEEE half -> float, exact (subnormals, inf and NaN included).
float f16_to_f32(uint16_t value);

}  // namespace resnet
