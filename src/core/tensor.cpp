#include "resnet/tensor.h"

#include <fmt/format.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/storage_pool.h"
#include "resnet/error.h"

namespace resnet {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::bf16:
      return 2;
    case DType::s8:
      return 1;
    case DType::u8:
      return 1;
    case DType::i64:
      return 8;
  }
  throw InternalError("dtype_size: unknown dtype");
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::bf16:
      return "bf16";
    case DType::s8:
      return "s8";
    case DType::u8:
      return "u8";
    case DType::i64:
      return "i64";
  }
  return "?";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

Tensor::Tensor(Shape shape, DType dtype) : Tensor(std::move(shape), dtype, true) {}

Tensor::Tensor(Shape shape, DType dtype, bool zeroed) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_) {
    if (d < 0)
      throw InternalError(fmt::format("tensor shape {} has a negative dimension", shape_str(shape_)));
  }
  storage_ = allocate_storage(nbytes(), zeroed);
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  return Tensor(std::move(shape), dtype, false);
}

Tensor Tensor::full(Shape shape, float value) {
  Tensor t(std::move(shape));
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) {
    throw InternalError(
        fmt::format("from_vector: {} values for shape {}", values.size(), shape_str(t.shape())));
  }
  std::memcpy(t.data(), values.data(), t.nbytes());
  return t;
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  int k = i < 0 ? i + r : i;
  if (k < 0 || k >= r) throw InternalError(fmt::format("dim({}) of a rank-{} tensor", i, r));
  return shape_[k];
}

float* Tensor::f32() {
  if (dtype_ != DType::f32)
    throw InternalError(fmt::format("expected an f32 tensor, got {}", dtype_name(dtype_)));
  return data_as<float>();
}

const float* Tensor::f32() const {
  return const_cast<Tensor*>(this)->f32();
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t(shape_, dtype_);
  std::memcpy(t.data(), data(), nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    throw InternalError(fmt::format("cannot reshape {} to {}", shape_str(shape_), shape_str(shape)));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(int64_t offset, Shape shape) const {
  const int64_t bytes_before = offset * int64_t(dtype_size(dtype_));
  if (offset < 0 || offset + shape_numel(shape) > numel() || bytes_before % 64 != 0) {
    throw InternalError(fmt::format("cannot slice {} elements at offset {} (64-byte aligned) from {}",
                                    shape_numel(shape), offset, shape_str(shape_)));
  }
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype_;
  t.storage_ = std::shared_ptr<std::byte>(storage_, storage_.get() + bytes_before);  // shares ownership
  return t;
}

void Tensor::fill(float value) {
  float* p = f32();
  for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
}

void Tensor::copy_from(const Tensor& other) {
  if (other.dtype_ != dtype_ || other.numel() != numel()) {
    throw InternalError(fmt::format("copy_from: {} {} into {} {}", dtype_name(other.dtype_),
                                    shape_str(other.shape_), dtype_name(dtype_), shape_str(shape_)));
  }
  std::memcpy(data(), other.data(), nbytes());
}

namespace {

// Copies between NCHW and NHWC (n, c, h, w: the image's dims); to_nhwc picks the direction. Every output
// element is written, so the output needs no zero fill.
Tensor convert_layout(const Tensor& x, int64_t n, int64_t c, int64_t h, int64_t w, bool to_nhwc) {
  Tensor y = Tensor::empty(to_nhwc ? Shape{n, h, w, c} : Shape{n, c, h, w});
  const float* src = x.f32();
  float* dst = y.f32();
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < w; ++iw) {
          const int64_t nchw = ((in * c + ic) * h + ih) * w + iw;
          const int64_t nhwc = ((in * h + ih) * w + iw) * c + ic;
          if (to_nhwc) {
            dst[nhwc] = src[nchw];
          } else {
            dst[nchw] = src[nhwc];
          }
        }
  return y;
}

}  // namespace

Tensor nchw_to_nhwc(const Tensor& x) {
  if (x.rank() != 4)
    throw InputError(fmt::format("expected an NCHW tensor, got shape {}", shape_str(x.shape())));
  return convert_layout(x, x.dim(0), x.dim(1), x.dim(2), x.dim(3), true);
}

Tensor nhwc_to_nchw(const Tensor& x) {
  if (x.rank() != 4)
    throw InternalError(fmt::format("expected an NHWC tensor, got shape {}", shape_str(x.shape())));
  return convert_layout(x, x.dim(0), x.dim(3), x.dim(1), x.dim(2), false);
}

uint16_t f32_to_bf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) return 0x7fc0;  // NaN stays NaN
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float bf16_to_f32(uint16_t value) {
  return std::bit_cast<float>(static_cast<uint32_t>(value) << 16);
}

}  // namespace resnet
