// Elementwise kernels on oneDNN: ReLU (eltwise) forward and backward, and a + b (binary). All see a tensor as
// a flat vector, so one primitive serves every shape with the same element count and dtype (f32 or bf16;
// all operands of one call share it).
#include <fmt/format.h>

#include <bit>
#include <cstdint>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

void check_activation(const Tensor& t, const char* op) {
  if (!t.defined() || !onednn::is_activation_dtype(t.dtype())) {
    throw InputError(fmt::format("{}: expected an f32 or bf16 tensor, got {} {}", op,
                                 t.defined() ? dtype_name(t.dtype()) : "none", shape_str(t.shape())));
  }
}

void check_same(const Tensor& a, const Tensor& b, const char* op, const char* what_a, const char* what_b) {
  check_activation(a, op);
  check_activation(b, op);
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) {
    throw InputError(fmt::format("{}: {} {} {} and {} {} {} differ", op, what_a, dtype_name(a.dtype()),
                                 shape_str(a.shape()), what_b, dtype_name(b.dtype()), shape_str(b.shape())));
  }
}

dnnl::memory::desc flat_desc(const Tensor& t) {
  return dnnl::memory::desc({t.numel()}, onednn::data_type_of(t.dtype()), dnnl::memory::format_tag::a);
}

// The cache key of a flat elementwise primitive over t.
std::string flat_key(const char* op, const Tensor& t) {
  return fmt::format("{}|n={}|{}", op, t.numel(), dtype_name(t.dtype()));
}

// What add_into() applies to a + b before it writes y.
enum class AfterAdd { nothing, relu };

// y = a + b [then max(., 0)], elementwise; y may be a (oneDNN's binary primitive works in place).
void add_into(const Tensor& a, const Tensor& b, Tensor& y, AfterAdd after = AfterAdd::nothing) {
  const char* op = after == AfterAdd::relu ? "add_relu" : "add";
  check_same(a, b, op, "operand", "operand");
  onednn::translate_errors(op, [&] {
    const dnnl::memory::desc md = flat_desc(a);
    onednn::CachedPrimitive sum = onednn::primitive_cache().get_or_create(flat_key(op, a), [&] {
      dnnl::primitive_attr attr = onednn::default_attr();
      if (after == AfterAdd::relu) {
        dnnl::post_ops relu;
        relu.append_eltwise(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(relu);
      }
      return dnnl::binary::primitive_desc(onednn::cpu_engine(), dnnl::algorithm::binary_add, md, md, md,
                                          attr);
    });
    onednn::execute(sum, {{DNNL_ARG_SRC_0, onednn::wrap(a, md)},
                          {DNNL_ARG_SRC_1, onednn::wrap(b, md)},
                          {DNNL_ARG_DST, onednn::wrap(y, md)}});
  });
}

}  // namespace

Tensor relu_forward(const Tensor& x) {
  check_activation(x, "relu");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (shape_only()) return y;
  return onednn::translate_errors("relu", [&] {
    const dnnl::memory::desc md = flat_desc(x);
    onednn::CachedPrimitive relu = onednn::primitive_cache().get_or_create(flat_key("relu", x), [&] {
      return dnnl::eltwise_forward::primitive_desc(onednn::cpu_engine(), dnnl::prop_kind::forward_inference,
                                                   dnnl::algorithm::eltwise_relu, md, md, 0.0f, 0.0f,
                                                   onednn::default_attr());
    });
    onednn::execute(relu, {{DNNL_ARG_SRC, onednn::wrap(x, md)}, {DNNL_ARG_DST, onednn::wrap(y, md)}});
    return y;
  });
}

// dy, y (relu_forward's output) -> dx = dy where y > 0, else 0. Computed from the output, so the forward need
// not keep its input.
Tensor relu_backward(const Tensor& dy, const Tensor& y) {
  check_same(dy, y, "relu backward", "output gradient", "output");
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  return onednn::translate_errors("relu backward", [&] {
    const dnnl::memory::desc md = flat_desc(y);
    onednn::CachedPrimitive relu = onednn::primitive_cache().get_or_create(flat_key("relu_bwd", y), [&] {
      const auto algorithm = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
      dnnl::eltwise_forward::primitive_desc hint(onednn::cpu_engine(), dnnl::prop_kind::forward_training,
                                                 algorithm, md, md, 0.0f, 0.0f, onednn::default_attr());
      return dnnl::eltwise_backward::primitive_desc(onednn::cpu_engine(), algorithm, md, md, md, 0.0f, 0.0f,
                                                    hint, onednn::default_attr());
    });
    onednn::execute(relu, {{DNNL_ARG_DST, onednn::wrap(y, md)},
                           {DNNL_ARG_DIFF_DST, onednn::wrap(dy, md)},
                           {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, md)}});
    return dx;
  });
}

// Elementwise a + b (same shape).
constexpr int32_t kPlusInfinityBits = 0x7F800000;

// dx = a + b where y > 0, else 0. f32: one loop (oneDNN has no eltwise backward of a sum); bf16: the two ops.
Tensor relu_backward_sum(Tensor a, const Tensor& b, const Tensor& y) {
  check_same(a, b, "relu backward", "output gradient part", "output gradient part");
  check_same(a, y, "relu backward", "output gradient", "output");
  if (a.dtype() != DType::f32) {
    add_to(a, b);
    return relu_backward(a, y);
  }
  const float *pb = b.f32(), *py = y.f32();
  float* pa = a.f32();  // read and written in place
  const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    // y > 0 on the bits (positive, at most +inf: not NaN): a float compare's select does not vectorize under
    // GCC's default -ftrapping-math, this integer mask does.
    const int32_t y_bits = std::bit_cast<int32_t>(py[i]);
    const int32_t keep = -static_cast<int32_t>(y_bits > 0 && y_bits <= kPlusInfinityBits);
    pa[i] = std::bit_cast<float>(std::bit_cast<int32_t>(pa[i] + pb[i]) & keep);
  }
  return a;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  if (shape_only()) return y;
  add_into(a, b, y);
  return y;
}

// max(a + b, 0) (same shape) in one pass: the residual join and the ReLU after it.
Tensor add_relu(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  if (shape_only()) return y;
  add_into(a, b, y, AfterAdd::relu);
  return y;
}

// acc += x (same shape), in place.
void add_to(Tensor& acc, const Tensor& x) {
  add_into(acc, x, acc);
}

}  // namespace resnet::ops
