// InferencePlan: a ResNet compiled for fast inference at one input shape.
//
// compile() folds every BatchNorm into the convolution before it (w' = w * gamma / sqrt(var + eps) per output
// channel, b' = beta - mean * gamma / sqrt(var + eps)), fuses each ReLU into its convolution, and fuses the
// residual join of every block into the block's last convolution: the shortcut (the block input, or the
// downsample convolution's output) is computed first and the last convolution accumulates into it, then
// applies the ReLU. oneDNN picks the layouts of activations and weights; the plan converts only at its edges
// (f32 images in, NHWC or NCHW: PlanOptions::input_layout; f32 logits out). Weights are folded and reordered
// once; activation buffers share one arena laid out by a lifetime planner, so the memory is close to the
// largest live set.
//
// compile_features() makes a plan of a backbone instead: the outputs of chosen stages (multi-scale features,
// as torchvision's IntermediateLayerGetter), each kept until the end of the run and copied out as f32 NHWC.
//
// The plan always computes the model's eval-mode function (running BN statistics; dropout is the identity).
// It copies what it needs from the model: changing the model afterwards does not change the plan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resnet/tensor.h"

namespace resnet {

class ResNet;
class UNet;
struct Int8Calibration;
namespace infer {
class PlanCompiler;  // src/infer/plan_compiler.h: compiles a Program built by hand (tests, other models)
}

// f32: f32 everywhere. bf16: bf16 weights and activations with f32 accumulation (oneDNN), f32 bias and
// logits. int8: s8 weights (per output channel) and u8/s8 activations (per tensor) from a calibration
// (resnet/calibration.h), s32 accumulation, f32 bias; the global average pool and the classifier run in f32.
enum class Precision : uint8_t { f32, bf16, int8 };
std::string_view precision_name(Precision precision);  // "f32", "bf16", "int8"
// "f32" | "bf16" | "int8"; anything else throws InputError naming `flag`.
Precision parse_precision(std::string_view text, std::string_view flag = "--dtype");

// How the images run() takes lie in memory: NHWC (the library's own) or NCHW (PyTorch's, and NumPy's from
// torchvision-style pipelines). Either way the plan's input reorder turns them into the layout its first step
// chose, so NCHW callers need no transpose of their own (the Python binding hands NumPy's buffer over as it
// is).
enum class ImageLayout : uint8_t { nhwc, nchw };

struct PlanOptions {
  // Run the batch as consecutive passes of this many images (0, or >= N: one pass). A pass keeps its
  // activations small enough to stay in cache, at the price of reading the weights once per pass.
  int64_t sub_batch = 0;
  // f32 plans: run each 3x3 stride-1 convolution (with channels in blocks of 16) as Winograd F(4x4, 3x3) --
  // 4x fewer multiplies through one batched oneDNN matmul, with transforms that add a few f32 ulps of
  // rounding per layer (--no-winograd: oneDNN's direct convolution).
  bool winograd = true;
  // Precision::int8 only, and required there: the calibrated activation scales.
  std::shared_ptr<const Int8Calibration> int8;
  // Tune per machine: choose each convolution's kernel by timing the correct candidates at compile —
  // oneDNN's implementations for its layouts (primitive_desc::next_impl, not the reference ones) and
  // Winograd where `winograd` allows it — and remember the choices in a tuning cache keyed by CPU model,
  // oneDNN ISA and version, shapes, layouts and data type, so that the next compile on this machine times
  // nothing (stats().tuning_timings == 0). Every candidate computes the same function: the logits differ
  // from an untuned plan's by f32 rounding only. Costs a few seconds the first time (ResNet-50 at batch 32
  // on 2 cores: ~15 s). A bf16 plan is first timed whole in bf16 and in f32, and runs in f32 where that is
  // faster (CPUs with AVX512-BF16 but no AMX, whose bf16 convolutions are slower: more accurate and faster);
  // precision() and stats().tuned_kernels ("plan: f32 (timed: bf16 .. ms, f32 .. ms)") say which.
  bool tune = false;
  // The tuning cache's file; "": default_tuning_cache_path(). A corrupt or foreign file warns on stderr and
  // is tuned again, never an error.
  std::string tuning_cache;
  // The layout of run()'s images, and of the input_shape given to compile() and reshaped().
  ImageLayout input_layout = ImageLayout::nhwc;
};

// $XDG_CACHE_HOME/resnet.cpp/tuning.json, else $HOME/.cache/resnet.cpp/tuning.json ("" if neither is set).
std::string default_tuning_cache_path();
// Whether the tuning cache at `path` ("": the default) holds choices made on this CPU with this oneDNN: the
// CLI's bench and infer then tune by default (reading the cache, timing only what is new).
bool tuning_cache_has_this_machine(const std::string& path = "");

struct PlanStats {
  // oneDNN primitives of one pass (the input reorder included), and passes per run.
  int64_t primitives = 0;
  int64_t passes = 1;
  // Residual joins done as a sum post-op.
  int64_t fused_residuals = 0;
  // Convolutions run as Winograd F(4x4, 3x3) (PlanOptions::winograd), per pass.
  int64_t winograd_convolutions = 0;
  // Activation memory: the arena the planner laid out; the largest set of buffers alive at one step (no
  // layout can use less); all buffers side by side (what no reuse would take).
  size_t activation_bytes = 0;
  size_t activation_live_peak = 0;
  size_t activation_sum_bytes = 0;
  // Reordered weights the plan uses, and how many weight tensors this compile had to reorder (0: all reused).
  size_t weight_bytes = 0;
  int64_t weight_reorders = 0;
  // PlanOptions::tune: convolutions whose kernel tuning chose, how many of those the cache answered, how
  // many candidate kernels this compile timed (0 when the cache had every answer), and each choice, in
  // program order of every pass compiled: "layer1.0.conv1: winograd (timed: winograd 1.02 ms,
  // brg:avx512_core 1.80 ms)", "layer1.0.conv2: brg:avx512_core (cached)".
  int64_t tuned_convolutions = 0;
  int64_t tuning_cache_hits = 0;
  int64_t tuning_timings = 0;
  std::vector<std::string> tuned_kernels;
  std::string tuning_cache;  // the file read and written
};

class InferencePlan {
 public:
  // input_shape: [N, H, W, C] (NHWC; [N, C, H, W] when options.input_layout is NCHW), C = the model's input
  // channels. Throws InputError when the model cannot
  // take that shape, InternalError on a oneDNN failure. oneDNN partitions work for the thread count at
  // compile time (ops::set_num_threads / --threads): compile under the count the plan will run with.
  static InferencePlan compile(ResNet& model, Precision precision, const Shape& input_shape,
                               const PlanOptions& options = {});
  // A backbone's multi-scale features: the outputs of `stages` — "stem" (conv1, bn1, relu: stride 2, before
  // the max-pool), "layer1".."layerN" (ResNet::stage_names) — in the order asked, of a model with or without
  // a classifier; the plan stops at the deepest stage asked. f32 or bf16; int8, an unknown or a repeated
  // stage: InputError. Run it with run_features().
  static InferencePlan compile_features(ResNet& model, const std::vector<std::string>& stages,
                                        Precision precision, const Shape& input_shape,
                                        const PlanOptions& options = {});
  // A U-Net (resnet/unet.h): its run() gives per-pixel logits f32 [N, H, W, classes] (NHWC). f32 or bf16
  // (bf16: the encoder, decoder and head in bf16, the logits f32); int8, or an input whose height or width
  // is not a multiple of 2^encoder_depth: InputError.
  static InferencePlan compile(UNet& model, Precision precision, const Shape& input_shape,
                               const PlanOptions& options = {});
  // The same model, precision and options for another input shape: the folded weights, and every weight
  // reordered into a layout the new primitives also choose, are shared with this plan rather than made again.
  InferencePlan reshaped(const Shape& input_shape) const;

  InferencePlan(InferencePlan&&) noexcept;
  InferencePlan& operator=(InferencePlan&&) noexcept;
  ~InferencePlan();

  // x: f32 images of input_shape() (NHWC [N, H, W, C], or NCHW: PlanOptions::input_layout) -> logits f32 [N,
  // classes] (a U-Net's: [N, H, W, classes]).
  //
  // Concurrency: run, run_features and run_observed may be called on one plan from many threads at once
  // (the const accessors too). Weights and primitives are shared and read-only; each call takes an
  // execution context — activation arena, oneDNN scratchpad, Winograd buffer, stream — from a pool inside
  // the plan, making one when all are in use, and gives it back: the pool grows to the largest number of
  // concurrent calls (each costs stats().activation_bytes + the scratchpad) and is freed with the plan.
  // A call gives the same bits as the same call made alone, given the same OpenMP thread count: oneDNN
  // runs a call with the calling thread's count (ops::set_num_threads in that thread; a new std::thread
  // starts from OMP_NUM_THREADS). compile, reshaped, moving and destroying the plan are not concurrent
  // with its runs. Separate plans may run concurrently.
  Tensor run(const Tensor& x);
  void run(const Tensor& x, Tensor& logits);
  // The same on images the caller owns: `images` points at input_shape()'s f32 values, contiguous, in the
  // input layout (a binding's zero-copy path: NumPy's buffer as it is).
  void run(const float* images, Tensor& logits);
  // A feature plan (compile_features): x f32 [N, H, W, C] -> one f32 NHWC tensor per output, in the order of
  // output_names() (shapes: output_shapes()). A classifier plan: InputError.
  std::vector<Tensor> run_features(const Tensor& x);
  // run() that also hands every step's output to `observer` as f32 NHWC ([N,H,W,C]; the logits [N,classes])
  // after the step ran, by the module path of the step ("layer1.0.conv2"; "input" for the input), once per
  // pass. For calibration and debugging: each output is copied out of the plan's layout. f32 plans only.
  using StepObserver = std::function<void(std::string_view name, const Tensor& value)>;
  void run_observed(const Tensor& x, Tensor& logits, const StepObserver& observer);

  // Execution contexts made so far (1 after compile; at most the largest number of concurrent calls).
  int64_t execution_contexts() const;

  const Shape& input_shape() const;  // in options().input_layout
  Shape output_shape() const;  // [N, classes] (a U-Net's: [N, H, W, classes]); a feature plan: InputError
  // What a run hands back: {"logits"}, or the stages of a feature plan.
  std::vector<std::string> output_names() const;
  // {[N, classes]}, or each feature's NHWC shape [N, H/r, W/r, C].
  std::vector<Shape> output_shapes() const;
  // The precision the plan runs: the one compiled for, except a bf16 plan that tuning found faster in f32.
  Precision precision() const;
  const PlanStats& stats() const;
  const PlanOptions& options() const;
  // One line per primitive: step, name, shapes, post-ops, oneDNN implementation, buffer offsets.
  std::string describe() const;

 private:
  friend class infer::PlanCompiler;
  struct Impl;
  void run_images(const float* x, Tensor& logits, const StepObserver& observer);
  explicit InferencePlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet
