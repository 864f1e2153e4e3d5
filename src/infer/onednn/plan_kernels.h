// The oneDNN side of an InferencePlan: one primitive per program step, created once for one input shape and
// precision, with the layouts oneDNN picks (format_tag::any), fused post-ops (sum for the residual join,
// eltwise ReLU), weights reordered once, and a reorder at each edge of the plan. This header includes no
// oneDNN header: src/infer/ drives it with plain types.
//
// Layout choice: a step's output layout is whatever its primitive picks; a step reads its input in the layout
// its producer picked; a step that accumulates (sum post-op) writes in the layout of the value it adds into.
// The input value takes the layout the first step asks for; the output (logits) is plain f32 [N, classes];
// each named output (a feature) stays in its producer's layout and is reordered into the caller's f32 NHWC
// tensor after the steps.
//
// int8 programs (infer::quantize_program): convolutions take s8 weights reordered from the per-channel
// quantized folded weights, with runtime scales (src and dst per tensor, weights per output channel); the
// residual join is a sum post-op whose scale (and type: an s8 downsample shortcut under a u8 block output)
// is the shortcut's; the input reorder quantizes the images to s8; the average pool dequantizes to f32 with a
// linear post-op, and the classifier runs in f32.
//
// Inside (plan_kernels.cpp): a builder makes one kernel per step (kernel.h) of the kind the step needs
// (kernel_kinds.h: a oneDNN primitive, an int8 average pool that dequantizes first, a Winograd convolution)
// plus the input reorder, choosing the layouts as above; run() calls each kernel in turn.
//
// Concurrency: one PlanKernels runs one pass at a time (bind() gives it its arena, scratchpad and stream).
// clone() makes another, unbound, sharing the primitives and weights: InferencePlan binds one clone per
// concurrent run (its execution contexts, plan.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infer/program.h"
#include "resnet/plan.h"

namespace resnet::infer {

// Weights in the layouts primitives chose, shared by every plan compiled from one program: a plan for another
// batch size reuses a reordered weight whenever its primitive picks the same layout. Thread-safe.
class PlanWeights;
std::shared_ptr<PlanWeights> make_plan_weights();

// How activation layouts are chosen. chosen: each producing primitive picks (format_tag::any; on AVX-512 a
// blocked nChw16c). channels_last: NHWC everywhere, for models where the chosen layouts leave some primitive
// without an optimized implementation (grouped convolutions with few channels per group).
enum class ActivationLayout { chosen, channels_last };

class ConvTuner;  // conv_tuner.h

class PlanKernels {
 public:
  // Creates the primitives (no memory yet). program must outlive the kernels (its biases and weights are read
  // in place).
  // winograd: run the f32 3x3 stride-1 convolutions that allow it as Winograd F(4x4, 3x3) (plan_winograd.h).
  // tuner (may be null): choose each convolution's kernel by timing the candidates (conv_tuner.h); Winograd
  // is then one candidate where `winograd` allows it, rather than the rule.
  // images: the layout of the caller's images (the input reorder's source).
  PlanKernels(const Program& program, const ShapedProgram& shaped, Precision precision,
              ActivationLayout layout, bool winograd, ImageLayout images, ConvTuner* tuner = nullptr);
  ~PlanKernels();
  PlanKernels(const PlanKernels&) = delete;
  PlanKernels& operator=(const PlanKernels&) = delete;

  // The same kernels, not bound: the primitives, layouts and read-only data are shared, the memory each binds
  // (activations, scratchpad, Winograd buffer, the caller's buffers) and the stream are its own. Safe while
  // this one runs.
  std::unique_ptr<PlanKernels> clone() const;

  // Bytes each value takes in its chosen layout; 0 for the output, which is the caller's tensor.
  const std::vector<size_t>& value_bytes() const;
  // Primitives that fell back to oneDNN's reference (slow) implementation.
  int64_t reference_kernels() const;
  // Takes the weights (from `weights`, reordering those not found) and places value v at arena + offsets[v]
  // (64-byte aligned). Must be called before run(); the arena must stay.
  void bind(std::byte* arena, const std::vector<size_t>& offsets, PlanWeights& weights);
  // Sees the output of step `step` (-1: the input) as f32 NHWC ([N, classes] for the logits).
  using Observer = std::function<void(int step, const Tensor& value)>;
  // x: f32 [N,H,W,C] of the compiled shape (dense); logits: f32 [N, classes], written (null when the
  // program has none); outputs: one f32 NHWC buffer per named output of the program, written after the
  // steps. With an observer, every step's output is copied out (reordered to f32 NHWC) after the step.
  void run(const float* x, float* logits, const std::vector<float*>& outputs = {},
           const Observer& observer = {});

  int64_t primitives() const;       // per run, the input and output reorders included
  int64_t winograd_steps() const;   // convolutions run as Winograd
  int64_t weight_reorders() const;  // done by bind() (weights not found in PlanWeights)
  size_t weight_bytes() const;      // of the weights these primitives use
  // Temporary memory shared by the steps: oneDNN's scratchpad and the Winograd steps' V and M.
  size_t scratchpad_bytes() const;
  // Step i: "conv 32x64x56x56:aBcd16b -> 32x64x56x56:aBcd16b w:ABcd16b16a +sum +relu [jit:avx512_core]"
  std::string describe_step(size_t i) const;
  std::string describe_input() const;
  // Named output i: "output layer2 reorder: 2x128x8x8:f32:aBcd16b -> 2x128x8x8:f32:acdb [...]"
  std::string describe_output(size_t i) const;

 private:
  struct Impl;
  explicit PlanKernels(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet::infer
