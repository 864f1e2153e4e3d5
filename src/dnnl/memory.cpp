#include "dnnl/memory.h"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <new>
#include <string_view>

#include "dnnl/engine.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::onednn {
namespace {

using tag = dnnl::memory::format_tag;

// For each memory-order position, the letter of the logical dim stored there ("acdb": memory holds a, c, d,
// b).
std::string_view memory_order(tag t) {
  switch (t) {
    case tag::a:
      return "a";
    case tag::ab:
      return "ab";
    case tag::abc:
      return "abc";
    case tag::abcd:
      return "abcd";
    case tag::abcde:
      return "abcde";
    case tag::acdb:
      return "acdb";
    default:
      throw InternalError(fmt::format("onednn::wrap: unsupported format tag {}", static_cast<int>(t)));
  }
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<void, FreeDeleter> data;
  size_t capacity = 0;
};

}  // namespace

dnnl::memory::data_type data_type_of(DType dtype) {
  using dt = dnnl::memory::data_type;
  switch (dtype) {
    case DType::f32:
      return dt::f32;
    case DType::bf16:
      return dt::bf16;
    case DType::s8:
      return dt::s8;
    case DType::u8:
      return dt::u8;
    case DType::i64:
      break;
  }
  throw InputError(fmt::format("dtype {} has no oneDNN equivalent", dtype_name(dtype)));
}

dnnl::memory::dims logical_dims(const Shape& shape, tag t) {
  std::string_view order = memory_order(t);
  if (order.size() != shape.size()) {
    throw InternalError(
        fmt::format("onednn::wrap: shape {} does not have the rank of format {}", shape_str(shape), order));
  }
  dnnl::memory::dims dims(shape.size());
  for (size_t i = 0; i < order.size(); ++i) dims[static_cast<size_t>(order[i] - 'a')] = shape[i];
  return dims;
}

dnnl::memory::desc desc_of(const Shape& shape, DType dtype, tag t) {
  return dnnl::memory::desc(logical_dims(shape, t), data_type_of(dtype), t);
}

dnnl::memory wrap(const Tensor& t, tag format) {
  return wrap(t, desc_of(t.shape(), t.dtype(), format));
}

dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& md) {
  if (md.get_size() != t.nbytes()) {
    throw InternalError(fmt::format("onednn::wrap: descriptor of {} bytes for a {} tensor {} of {} bytes",
                                    md.get_size(), dtype_name(t.dtype()), shape_str(t.shape()), t.nbytes()));
  }
  return dnnl::memory(md, cpu_engine(), const_cast<void*>(t.data()));
}

void* thread_buffer(ThreadBuffer slot, size_t nbytes) {
  constexpr size_t kAlignment = 64;
  thread_local std::array<Buffer, 2> buffers;
  Buffer& b = buffers[static_cast<size_t>(slot)];
  if (b.capacity < nbytes || b.data == nullptr) {
    size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded == 0) rounded = kAlignment;
    b.data.reset();
    b.data.reset(std::aligned_alloc(kAlignment, rounded));
    if (b.data == nullptr) throw std::bad_alloc();
    b.capacity = rounded;
  }
  return b.data.get();
}

dnnl::memory thread_memory(ThreadBuffer slot, const dnnl::memory::desc& md) {
  return dnnl::memory(md, cpu_engine(), thread_buffer(slot, md.get_size()));
}

dnnl::memory in_layout(const Tensor& t, const dnnl::memory::desc& plain_md, const dnnl::memory::desc& wanted,
                       const std::string& key, ThreadBuffer slot) {
  dnnl::memory plain = wrap(t, plain_md);
  if (wanted == plain_md) return plain;
  CachedPrimitive reorder = primitive_cache().get_or_create(key + "|reorder", [&] {
    return dnnl::reorder::primitive_desc(cpu_engine(), plain_md, cpu_engine(), wanted, default_attr());
  });
  dnnl::memory out = thread_memory(slot, wanted);
  execute(reorder, {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, out}});
  return out;
}

}  // namespace resnet::onednn
