#include "cli/model_stats.h"

#include "dnnl/ops.h"

namespace resnet::cli {
namespace {

Shape to_nchw_order(const Shape& nhwc) {
  if (nhwc.size() != 4) return nhwc;
  return {nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
}

// Parameters owned by this module itself (leaves own all of theirs).
int64_t own_params(const Module& m) {
  if (!m.children().empty()) return 0;
  int64_t n = 0;
  for (Parameter* p : const_cast<Module&>(m).parameters()) n += p->value.numel();
  return n;
}

}  // namespace

ModelStats collect_model_stats(Module& model, int64_t channels, int64_t height, int64_t width) {
  ModelStats stats;
  model.set_training(false);
  Module::set_forward_observer([&](const Module& m, const Tensor& in, const Tensor& out) {
    stats.layers.push_back({m.path(), m.type_name(), to_nchw_order(out.shape()), own_params(m),
                            m.macs(in.shape(), out.shape())});
    stats.macs += stats.layers.back().macs;
  });
  try {
    ops::ShapeOnly shapes_only;
    model.forward(Tensor({1, height, width, channels}));
  } catch (...) {
    Module::set_forward_observer(nullptr);
    throw;
  }
  Module::set_forward_observer(nullptr);
  stats.params = model.parameter_count();
  return stats;
}

}  // namespace resnet::cli
