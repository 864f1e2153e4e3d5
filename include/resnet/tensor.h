// Tensor: a dense, row-major array with a shape and a dtype, on 64-byte-aligned owning storage.
//
// Layout conventions (the whole library follows them):
//   activations  [N, H, W, C]   (NHWC, channels-last; the CLI converts from/to NCHW at its edges)
//   conv weights [O, I/groups, KH, KW]  (OIHW, torchvision's order, as on disk)
//   linear       [out, in]
// Copies share storage (like torch.Tensor); clone() makes a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace resnet {

enum class DType : uint8_t { f32, bf16, s8, u8, i64 };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "f32", "bf16", "s8", "u8", "i64"

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[64,3,7,7]"

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled storage of shape_numel(shape) elements.
  explicit Tensor(Shape shape, DType dtype = DType::f32);

  static Tensor zeros(Shape shape, DType dtype = DType::f32) { return Tensor(std::move(shape), dtype); }
  // Uninitialised storage: for outputs that a kernel overwrites entirely (saves a pass over memory).
  static Tensor empty(Shape shape, DType dtype = DType::f32);
  static Tensor full(Shape shape, float value);  // f32
  static Tensor from_vector(Shape shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  DType dtype() const { return dtype_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* data() { return storage_.get(); }
  const void* data() const { return storage_.get(); }
  // Typed access; throws InternalError if the dtype does not match.
  float* f32();
  const float* f32() const;
  template <class T>
  T* data_as() {
    return static_cast<T*>(data());
  }
  template <class T>
  const T* data_as() const {
    return static_cast<const T*>(data());
  }

  Tensor clone() const;
  // Same storage, new shape with the same numel.
  Tensor reshaped(Shape shape) const;
  // A tensor of `shape` on this one's storage from element `offset` (shares it, like a copy): a slice of a
  // flat buffer. The offset keeps storage's 64-byte alignment (a multiple of 64 bytes); the slice must fit.
  Tensor slice(int64_t offset, Shape shape) const;
  void fill(float value);               // f32 only
  void copy_from(const Tensor& other);  // same dtype and numel

 private:
  Tensor(Shape shape, DType dtype, bool zeroed);

  Shape shape_;
  DType dtype_ = DType::f32;
  std::shared_ptr<std::byte> storage_;
};

// Layout conversions for the edges (files and users hold NCHW).
Tensor nchw_to_nhwc(const Tensor& x);
Tensor nhwc_to_nchw(const Tensor& x);

// bf16 <-> f32 element conversions (round-to-nearest-even).
uint16_t f32_to_bf16(float value);
float bf16_to_f32(uint16_t value);

}  // namespace resnet
