// Tensors seen as oneDNN memory, without copying, and the per-thread buffers kernels use for temporaries.
//
// A Tensor's shape is in memory order (an activation is [N,H,W,C]); oneDNN dims are logical (an activation is
// {N,C,H,W}) and a format tag says how they lie in memory. wrap(x, format_tag::nhwc) therefore reads x's
// shape [N,H,W,C] and describes it as dims {N,C,H,W} in nhwc order.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <string>

#include "resnet/tensor.h"

namespace resnet::onednn {

// f32, bf16, s8, u8; i64 has no oneDNN type and throws InputError.
dnnl::memory::data_type data_type_of(DType dtype);

// Activations and their gradients are f32, or bf16 in mixed-precision training (ResNet::set_compute_dtype).
inline bool is_activation_dtype(DType dtype) {
  return dtype == DType::f32 || dtype == DType::bf16;
}

// Logical oneDNN dims of a tensor whose memory-order shape is `shape` under a plain format tag
// (a, ab, abc, abcd, abcde, x, nc, oi, nchw, oihw, goihw, nhwc). Other tags throw InternalError.
dnnl::memory::dims logical_dims(const Shape& shape, dnnl::memory::format_tag tag);
dnnl::memory::desc desc_of(const Shape& shape, DType dtype, dnnl::memory::format_tag tag);

// The tensor's storage as oneDNN memory on the CPU engine. oneDNN only reads inputs, so a const Tensor is
// fine.
dnnl::memory wrap(const Tensor& t, dnnl::memory::format_tag tag);
// Same, with a descriptor made by the caller (e.g. OIHW weights as 5-D goihw); its size must equal
// t.nbytes().
dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& md);

// Reusable 64-byte-aligned memory owned by the calling thread, one buffer per slot, grown on demand. A kernel
// may use a slot only until it returns (the next call on the same thread reuses it), so nothing escapes a
// call.
enum class ThreadBuffer { weights, scratchpad };
void* thread_buffer(ThreadBuffer slot, size_t nbytes);
// Memory of descriptor md placed in a thread buffer.
dnnl::memory thread_memory(ThreadBuffer slot, const dnnl::memory::desc& md);

// t, described by plain_md, in the layout `wanted` (a primitive's choice for format_tag::any): t's own
// storage when the two agree, else a copy reordered into thread buffer `slot` by a cached reorder primitive.
// `key` must determine `wanted` (pass the consumer primitive's cache key). Done on every call, so the result
// always reflects t's values.
dnnl::memory in_layout(const Tensor& t, const dnnl::memory::desc& plain_md, const dnnl::memory::desc& wanted,
                       const std::string& key, ThreadBuffer slot);

}  // namespace resnet::onednn
