// A kernel: what runs one part of an InferencePlan on oneDNN (a step of the program, or the reorder of the
// caller's images at its input). PlanKernels (plan_kernels.cpp) builds them, with the layouts it chose, binds
// them once to the arena and runs them in order; each kind (kernel_kinds.h) binds, runs and describes itself.
//
// Concurrency: what a kernel creates (its primitive, descriptions, runtime scales, weights) is read-only once
// built and shared by its clones; what it binds (its arguments: arena, scratchpad, the caller's buffers) is
// its own. Each concurrent run of a plan uses its own clones, bound to its own memory (plan.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <dnnl.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl/implementations.h"
#include "resnet/tensor.h"

namespace resnet::infer {

class PlanWeights;

// A primitive's arguments: DNNL_ARG_* -> memory.
using ExecArgs = std::unordered_map<int, dnnl::memory>;

// How describe() names a kernel: "layer1.0.conv1 conv +sum +relu" is name, op, then the fused post-ops.
struct KernelLabel {
  std::string name;      // the step's ("layer1.0.conv1"), or "input"
  std::string op;        // "conv", "max_pool", "avg_pool", "linear", "reorder"
  std::string post_ops;  // " +sum +relu", or empty

  std::string text() const { return name + " " + op + post_ops; }
};

// What bind() hands the kernels: where each value lives, the store of reordered weights, and the temporary
// buffers they share (they run one after another). Counts the weights the kernels take.
class KernelBinding {
 public:
  // arena + offsets[v]: value v (64-byte aligned); logits: the plan's output value, the caller's tensor;
  // scratchpad, winograd_buffer: sized for the largest user (null when none needs one).
  KernelBinding(std::byte* arena, const std::vector<size_t>& offsets, int output, dnnl::memory logits,
                PlanWeights& weights, std::byte* scratchpad, std::byte* winograd_buffer);

  // Value v as memory of description md (in int8 an accumulated value is s8 to its shortcut's writer and u8
  // to the rest: the same bytes, two descriptions).
  dnnl::memory value(int v, const dnnl::memory::desc& md) const;
  // Weight `plain` of step `step` (described by plain_md) in layout `wanted`: the stored copy, or reordered
  // now.
  dnnl::memory weights(size_t step, const Tensor& plain, const dnnl::memory::desc& plain_md,
                       const dnnl::memory::desc& wanted);
  // Adds DNNL_ARG_SCRATCHPAD when a primitive's scratchpad `md` is not empty.
  void add_scratchpad(ExecArgs& args, const dnnl::memory::desc& md) const;
  std::byte* scratchpad() const { return scratchpad_; }
  std::byte* winograd_buffer() const { return winograd_buffer_; }

  int64_t weight_reorders() const { return weight_reorders_; }  // weights not found in the store
  size_t weight_bytes() const { return weight_bytes_; }         // of all the weights taken

 private:
  std::byte* arena_;
  const std::vector<size_t>& offsets_;
  int output_;
  dnnl::memory logits_;
  PlanWeights& weights_;
  std::byte* scratchpad_;
  std::byte* winograd_buffer_;
  int64_t weight_reorders_ = 0;
  size_t weight_bytes_ = 0;
};

// int8 runtime scales of a primitive: f32 [n] values kept here, passed as DNNL_ARG_ATTR_SCALES | arg.
class RuntimeScales {
 public:
  // arg: DNNL_ARG_SRC, DNNL_ARG_WEIGHTS or DNNL_ARG_DST; values: one per tensor or per output channel, as the
  // primitive's scales mask says.
  void add(int arg, Tensor values);
  void add_to(ExecArgs& args) const;

 private:
  std::vector<Tensor> values_;  // what the memories wrap
  ExecArgs memories_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // A copy not yet bound, for another execution context: the same primitive and read-only data, its own
  // memory objects (nothing it binds or sets per run is shared with this kernel).
  virtual std::unique_ptr<Kernel> clone() const = 0;
  // Takes its weights and places its inputs and outputs; before the first run().
  virtual void bind(KernelBinding& binding) = 0;
  virtual void run(dnnl::stream& stream) const = 0;
  // What run() wrote, in the kernel's layout (the observer copies it out as f32 NHWC).
  virtual const dnnl::memory& output() const = 0;
  // "layer1.0.conv1 conv +sum +relu: 32x64x56x56:f32:aBcd16b -> 32x64x56x56:f32:aBcd16b w ...
  // [brg:avx512_core]"
  virtual std::string describe() const = 0;
  // Bytes of the shared oneDNN scratchpad it needs.
  virtual size_t scratchpad_bytes() const = 0;
  // Whether it runs oneDNN's reference (slow) implementation.
  virtual bool reference() const = 0;
};

using onednn::is_reference;  // dnnl/implementations.h

}  // namespace resnet::infer
