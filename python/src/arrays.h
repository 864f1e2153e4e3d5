// Arrays across the boundary. Python holds NCHW float32 (NumPy, or any DLPack tensor: torch, JAX, ...); the
// engine holds NHWC Tensors on its own aligned storage. What is copied (docs/PYTHON.md, "Copies"):
//   - an input image batch to a compiled plan: never when it is C-contiguous (the plan's input reorder reads
//     NCHW in place); otherwise once, into a contiguous NCHW copy;
//   - an input image batch to the model (m(x), m.features(x)): once, NCHW (any strides) -> NHWC;
//   - logits [N, classes] out: never (the NumPy array owns the Tensor's storage);
//   - NHWC feature maps or U-Net logits out: once, NHWC -> NCHW;
//   - state_dict() out: never (views of the model's parameters, as torch's state_dict());
//   - load_state_dict() in: once per tensor, into the model's parameters.
#pragma once

#include <nanobind/ndarray.h>

#include <string>

#include "bindings.h"
#include "resnet/tensor.h"

namespace resnet::python {

using NumpyArray = nb::ndarray<nb::numpy>;

// x: a float32 array [N, channels, H, W] (NCHW) of any strides, on the CPU, as it is (no copy). Anything else
// (another rank, dtype, channel count or device, an empty batch) throws InputError naming `what` and the
// shape.
nb::ndarray<nb::ro> nchw_array(nb::handle x, int64_t channels, const std::string& what);
// The same, copied into f32 [N, H, W, channels] (NHWC).
Tensor nchw_input(nb::handle x, int64_t channels, const std::string& what);
bool is_c_contiguous(const nb::ndarray<nb::ro>& a);
// a's elements in logical (C) order into `to` (a.size() * item bytes): one memcpy when a is C-contiguous.
void copy_in_logical_order(const nb::ndarray<nb::ro>& a, size_t item, void* to);

// A tensor from a state dict (NumPy, DLPack or anything with __array__): float32 -> f32, int64 -> i64, other
// float dtypes converted to f32 (float64, float16); anything else throws InputError naming `key`.
Tensor state_tensor(nb::handle value, const std::string& key);

// f32 or i64 Tensor -> NumPy array sharing its storage (zero-copy; the array keeps the storage alive).
NumpyArray numpy_view(Tensor tensor);
// f32 NHWC [N, H, W, C] -> NumPy NCHW [N, C, H, W] (a copy).
NumpyArray numpy_nchw(const Tensor& nhwc);

}  // namespace resnet::python
