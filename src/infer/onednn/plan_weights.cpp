#include "infer/onednn/plan_weights.h"

#include "dnnl/engine.h"
#include "dnnl/memory.h"

namespace resnet::infer {

// The oneDNN helpers of src/dnnl/.
using onednn::cpu_engine;
using onednn::wrap;

std::shared_ptr<PlanWeights> make_plan_weights() {
  return std::make_shared<PlanWeights>();
}

dnnl::memory PlanWeights::get(size_t step, const Tensor& plain, const dnnl::memory::desc& plain_md,
                              const dnnl::memory::desc& wanted, bool* reordered) {
  std::lock_guard lock(mutex_);
  auto& copies = stored_[step];
  for (const auto& [md, memory] : copies) {
    if (md == wanted) {
      *reordered = false;
      return memory;
    }
  }
  dnnl::memory out(wanted, cpu_engine());
  dnnl::memory from = wrap(plain, plain_md);
  dnnl::stream stream(cpu_engine());  // its own: plans may bind from several threads at once
  dnnl::reorder(from, out).execute(stream, from, out);
  stream.wait();
  copies.emplace_back(wanted, out);
  *reordered = true;
  return out;
}

}  // namespace resnet::infer
