// NumPy / DLPack arrays <-> Tensors: see arrays.h for where a copy happens.
#include "arrays.h"

#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <cstring>
#include <vector>

#include "resnet/error.h"

namespace resnet::python {

using namespace nb::literals;

namespace {

std::string python_type_name(nb::handle x) {
  return nb::cast<std::string>(nb::type_name(x.type()));
}

std::string dtype_text(const nb::dlpack::dtype& t) {
  const char* code = t.code == uint8_t(nb::dlpack::dtype_code::Float)  ? "float"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Int)  ? "int"
                     : t.code == uint8_t(nb::dlpack::dtype_code::UInt) ? "uint"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Bool) ? "bool"
                                                                       : "other";
  return fmt::format("{}{}", code, t.bits);
}

std::string shape_text(const nb::ndarray<nb::ro>& a) {
  std::vector<int64_t> shape;
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(static_cast<int64_t>(a.shape(i)));
  return shape_str(shape);
}

// Any array-like as a read-only ndarray on the CPU: NumPy and DLPack tensors directly (no copy), anything
// else with __array__ through numpy.asarray.
nb::ndarray<nb::ro> as_array(nb::handle x, const std::string& what) {
  nb::ndarray<nb::ro> a;
  if (!nb::try_cast(x, a, false) && nb::hasattr(x, "__array__")) {
    nb::object converted = nb::module_::import_("numpy").attr("asarray")(x);
    nb::try_cast(converted, a, false);
  }
  if (!a.is_valid())
    throw InputError(
        fmt::format("{}: expected a NumPy array or a DLPack tensor, got {}", what, python_type_name(x)));
  if (a.device_type() != nb::device::cpu::value)
    throw InputError(fmt::format("{}: the tensor is not on the CPU (move it with .cpu())", what));
  return a;
}

template <class T>
NumpyArray wrap(Tensor tensor) {
  std::vector<size_t> shape(tensor.shape().begin(), tensor.shape().end());
  auto* owner = new Tensor(std::move(tensor));
  nb::capsule keep_alive(owner, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return NumpyArray(owner->data(), shape.size(), shape.data(), keep_alive, nullptr, nb::dtype<T>());
}

}  // namespace

bool is_c_contiguous(const nb::ndarray<nb::ro>& a) {
  int64_t expected = 1;
  for (size_t d = a.ndim(); d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != expected) return false;
    expected *= static_cast<int64_t>(a.shape(d));
  }
  return true;
}

nb::ndarray<nb::ro> nchw_array(nb::handle x, int64_t channels, const std::string& what) {
  nb::ndarray<nb::ro> a = as_array(x, what);
  if (a.dtype() != nb::dtype<float>()) {
    throw InputError(
        fmt::format("{}: expected float32, got {} (convert with .astype(numpy.float32) or .float())", what,
                    dtype_text(a.dtype())));
  }
  if (a.ndim() != 4 || static_cast<int64_t>(a.shape(1)) != channels) {
    throw InputError(fmt::format("{}: expected a float32 NCHW batch [N, {}, H, W], got shape {}", what,
                                 channels, shape_text(a)));
  }
  if (a.shape(0) == 0 || a.shape(2) == 0 || a.shape(3) == 0)
    throw InputError(fmt::format("{}: empty batch {}", what, shape_text(a)));
  return a;
}

Tensor nchw_input(nb::handle x, int64_t channels, const std::string& what) {
  const nb::ndarray<nb::ro> a = nchw_array(x, channels, what);
  const int64_t n = a.shape(0), c = a.shape(1), h = a.shape(2), w = a.shape(3);
  const int64_t sn = a.stride(0), sc = a.stride(1), sh = a.stride(2), sw = a.stride(3);  // in elements
  const float* src = static_cast<const float*>(a.data());
  Tensor out = Tensor::empty({n, h, w, c});
  float* dst = out.f32();
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ih = 0; ih < h; ++ih)
      for (int64_t iw = 0; iw < w; ++iw) {
        const float* pixel = src + in * sn + ih * sh + iw * sw;
        for (int64_t ic = 0; ic < c; ++ic) *dst++ = pixel[ic * sc];
      }
  return out;
}

Tensor state_tensor(nb::handle value, const std::string& key) {
  nb::ndarray<nb::ro> a = as_array(value, key);
  const nb::dlpack::dtype t = a.dtype();
  const bool is_float = t.code == uint8_t(nb::dlpack::dtype_code::Float);
  const bool is_int64 = t == nb::dtype<int64_t>();
  if (!is_float && !is_int64) {
    throw InputError(fmt::format("{}: expected a float or int64 tensor, got {}", key, dtype_text(t)));
  }
  if (is_float && t != nb::dtype<float>()) {
    // float64 / float16 / bfloat16: let NumPy convert (float32 is what the model holds).
    nb::object numpy = nb::module_::import_("numpy");
    nb::object converted = numpy.attr("asarray")(value, "dtype"_a = numpy.attr("float32"));
    return state_tensor(converted, key);
  }
  Shape shape;
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(static_cast<int64_t>(a.shape(i)));
  Tensor out = Tensor::empty(shape, is_int64 ? DType::i64 : DType::f32);
  copy_in_logical_order(a, is_int64 ? 8 : 4, out.data());
  return out;
}

void copy_in_logical_order(const nb::ndarray<nb::ro>& a, size_t item, void* to) {
  const auto* src = static_cast<const std::byte*>(a.data());
  auto* dst = static_cast<std::byte*>(to);
  const int64_t numel = static_cast<int64_t>(a.size());
  if (is_c_contiguous(a)) {
    std::memcpy(dst, src, static_cast<size_t>(numel) * item);
    return;
  }
  // Gather by strides (a transposed or sliced array is read in its logical order, as torch does).
  std::vector<int64_t> index(a.ndim(), 0);
  for (int64_t i = 0; i < numel; ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < a.ndim(); ++d) offset += index[d] * a.stride(d);
    std::memcpy(dst + static_cast<size_t>(i) * item, src + offset * static_cast<int64_t>(item), item);
    for (size_t d = a.ndim(); d-- > 0;) {
      if (++index[d] < static_cast<int64_t>(a.shape(d))) break;
      index[d] = 0;
    }
  }
}

NumpyArray numpy_view(Tensor tensor) {
  if (tensor.dtype() == DType::i64) return wrap<int64_t>(std::move(tensor));
  if (tensor.dtype() != DType::f32)
    throw InternalError(fmt::format("numpy_view: unexpected dtype {}", dtype_name(tensor.dtype())));
  return wrap<float>(std::move(tensor));
}

NumpyArray numpy_nchw(const Tensor& nhwc) {
  return numpy_view(nhwc_to_nchw(nhwc));
}

}  // namespace resnet::python
