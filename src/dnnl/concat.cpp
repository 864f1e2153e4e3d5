// Channel concatenation of NHWC activations (torch.cat(dim=1) on NCHW tensors) and its backward, the split:
// oneDNN's concat primitive forward; each part's gradient is a reorder of its channel window of dy (a
// sub-memory, strided in the channel axis) into a dense tensor. f32 or bf16; all parts share the dtype.
#include <fmt/format.h>

#include <numeric>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;

constexpr int kChannelAxis = 1;  // oneDNN's logical dims are {N, C, H, W}

void check_parts(const std::vector<Tensor>& parts) {
  if (parts.empty()) throw InputError("concat_channels: no tensors");
  const Tensor& first = parts.front();
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    const bool ok = p.defined() && p.rank() == 4 && onednn::is_activation_dtype(p.dtype()) &&
                    p.dtype() == first.dtype() && p.dim(0) == first.dim(0) && p.dim(1) == first.dim(1) &&
                    p.dim(2) == first.dim(2);
    if (!ok) {
      throw InputError(
          fmt::format("concat_channels: part {} is {} {}; every part must be f32 or bf16 "
                      "[N,H,W,C] with the N, H, W and dtype of part 0 ({} {})",
                      i, p.defined() ? dtype_name(p.dtype()) : "none", shape_str(p.shape()),
                      dtype_name(first.dtype()), shape_str(first.shape())));
    }
  }
}

}  // namespace

// parts[i] [N,H,W,C_i] -> y [N,H,W,sum C_i], channels in the order of the parts
Tensor concat_channels_forward(const std::vector<Tensor>& parts) {
  check_parts(parts);
  const Tensor& first = parts.front();
  int64_t channels = 0;
  for (const Tensor& p : parts) channels += p.dim(3);
  Tensor y = Tensor::empty({first.dim(0), first.dim(1), first.dim(2), channels}, first.dtype());
  if (shape_only()) return y;
  onednn::translate_errors("concat_channels", [&] {
    std::vector<memory::desc> part_mds;
    std::vector<std::string> part_dims;
    for (const Tensor& p : parts) {
      part_mds.push_back(onednn::desc_of(p.shape(), p.dtype(), memory::format_tag::nhwc));
      part_dims.push_back(onednn::dims_key(part_mds.back().get_dims()));
    }
    const std::string key = fmt::format("concat|{}|{}", dtype_name(first.dtype()), fmt::join(part_dims, "|"));
    const memory::desc y_md = onednn::desc_of(y.shape(), y.dtype(), memory::format_tag::nhwc);
    onednn::CachedPrimitive p = onednn::primitive_cache().get_or_create(key, [&] {
      return dnnl::concat::primitive_desc(onednn::cpu_engine(), y_md, kChannelAxis, part_mds,
                                          onednn::default_attr());
    });
    std::unordered_map<int, memory> args = {{DNNL_ARG_DST, onednn::wrap(y, y_md)}};
    for (size_t i = 0; i < parts.size(); ++i)
      args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), onednn::wrap(parts[i], part_mds[i]));
    onednn::execute(p, std::move(args));
  });
  return y;
}

// dy [N,H,W,sum C_i] -> dparts[i] [N,H,W,C_i]: channels [offset_i, offset_i + C_i) of dy
std::vector<Tensor> concat_channels_backward(const Tensor& dy, const std::vector<int64_t>& channels) {
  check_parts({dy});
  const int64_t total = std::accumulate(channels.begin(), channels.end(), int64_t{0});
  if (channels.empty() || total != dy.dim(3)) {
    throw InputError(fmt::format("concat_channels backward: gradient {} does not split into {} channels",
                                 shape_str(dy.shape()), fmt::join(channels, " + ")));
  }
  std::vector<Tensor> dparts;
  onednn::translate_errors("concat_channels backward", [&] {
    const memory::desc dy_md = onednn::desc_of(dy.shape(), dy.dtype(), memory::format_tag::nhwc);
    const memory dy_mem = onednn::wrap(dy, dy_md);
    int64_t offset = 0;
    for (const int64_t c : channels) {
      const Shape part = {dy.dim(0), dy.dim(1), dy.dim(2), c};
      const memory::desc part_md = onednn::desc_of(part, dy.dtype(), memory::format_tag::nhwc);
      const memory::desc window = dy_md.submemory_desc(part_md.get_dims(), {0, offset, 0, 0});
      onednn::CachedPrimitive reorder = onednn::primitive_cache().get_or_create(
          fmt::format("split|{}|dy={}|at={}|c={}", dtype_name(dy.dtype()), onednn::dims_key(dy_md.get_dims()),
                      offset, c),
          [&] {
            return dnnl::reorder::primitive_desc(onednn::cpu_engine(), window, onednn::cpu_engine(), part_md,
                                                 onednn::default_attr());
          });
      Tensor dpart = Tensor::empty(part, dy.dtype());
      // The sub-memory shares dy's buffer; its descriptor carries the channel offset.
      onednn::execute(reorder,
                      {{DNNL_ARG_FROM, memory(window, onednn::cpu_engine(), dy_mem.get_data_handle())},
                       {DNNL_ARG_TO, onednn::wrap(dpart, part_md)}});
      dparts.push_back(std::move(dpart));
      offset += c;
    }
  });
  return dparts;
}

}  // namespace resnet::ops
