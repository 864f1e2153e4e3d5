#include "dnnl/engine.h"

#include <fmt/format.h>
#include <omp.h>

#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet::onednn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::primitive_attr default_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void throw_dnnl_error(std::string_view op, const dnnl::error& e) {
  throw InternalError(fmt::format("{}: oneDNN: {} (status {})", op, e.what(), static_cast<int>(e.status)));
}

}  // namespace resnet::onednn

namespace resnet::ops {

namespace {
thread_local bool shape_only_mode = false;
}  // namespace

ShapeOnly::ShapeOnly() : previous_(shape_only_mode) {
  shape_only_mode = true;
}
ShapeOnly::~ShapeOnly() {
  shape_only_mode = previous_;
}
bool shape_only() {
  return shape_only_mode;
}

// OpenMP's thread count is what oneDNN's CPU runtime uses. The primitive cache keys on it, so primitives
// created for another count are not reused with the wrong partitioning.
void set_num_threads(int threads) {
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace resnet::ops
