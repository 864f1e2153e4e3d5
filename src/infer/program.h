// The inference program: a ResNet lowered to a straight list of fused steps over numbered values, with BN
// already folded into the convolution weights. It knows nothing about oneDNN or memory layouts; shaping
// (shape_program) gives every value its NHWC shape and every step its windows and padding for one input
// shape.
//
// A step reads value `src` (and `src2`: concat) and writes value `dst`. With `accumulate`, the step adds its
// result into dst's current contents (the residual join: dst holds the shortcut), and `relu` then applies
// max(., 0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/window.h"
#include "resnet/tensor.h"

namespace resnet::infer {

enum class StepKind {
  conv,              // 2-D convolution, folded weight [O, I/groups, KH, KW] (OIHW) and bias [O]
  max_pool,          // window kernel x kernel, stride, padding (PyTorch: -inf padding, floor mode)
  avg_pool,          // global average pooling: [N,H,W,C] -> [N,1,1,C]
  linear,            // fully connected on [N,1,1,C] (as [N,C]) -> [N,O], weight [O,C], bias [O]
  upsample_nearest,  // x2 nearest neighbour: [N,H,W,C] -> [N,2H,2W,C] (torch's interpolate, mode="nearest")
  concat,            // channels of src, then of src2: [N,H,W,C1] + [N,H,W,C2] -> [N,H,W,C1+C2]
};
std::string_view step_kind_name(StepKind kind);

// How an int8 plan (quantize_program) runs a step. Scales are the real value of one integer step.
struct StepInt8 {
  DType dst_type = DType::f32;  // conv: u8 with ReLU, else s8; max_pool: its input's; avg_pool: its input's
                                // (f32 without a calibrated scale); linear: f32
  float src_scale = 0.0f;       // of the value read (f32 values: 1)
  float dst_scale = 1.0f;       // of the value written
  DType sum_type = DType::u8;   // accumulate: the type and scale of the shortcut already in dst
  float sum_scale = 0.0f;
  Tensor weight;  // conv, and linear after an integer pool: s8, quantized per output channel (same shape)
  Tensor weight_scales;  // f32 [O], with weight
};

struct Step {
  StepKind kind = StepKind::conv;
  std::string name;  // the module path it comes from: "layer1.0.conv2", "fc"
  int src = -1;
  int src2 = -1;  // concat: the second source
  int dst = -1;
  bool accumulate = false;
  bool relu = false;
  Window window;  // conv and max_pool (core/window.h)
  Tensor weight;  // conv: f32 OIHW, folded; linear: f32 [O, C]
  Tensor bias;    // f32 [O] (conv: folded BN shift; may be all zero), linear: [O] or undefined
  StepInt8 int8;  // int8 programs only
};

// A value a run hands back by name ("layer2"): a spatial value [N,H,W,C], kept in the arena until the end of
// the run and then copied out (as f32 NHWC).
struct ProgramOutput {
  std::string name;
  int value = -1;
};

struct Program {
  int num_values = 1;  // value 0 is the input image batch
  int input = 0;
  int output = -1;  // the logits [N, classes], written straight into the caller's tensor; -1: none
  std::vector<ProgramOutput> outputs;  // named outputs (a backbone's features), in the order asked
  // The one named output is per-pixel logits [N,H,W,num_classes] (a segmentation model), which run() hands
  // back as the plan's logits.
  bool pixel_logits = false;
  int64_t in_channels = 0;
  int64_t num_classes = 0;
  // The input's height and width must be multiples of this (a U-Net of depth D: 2^D, so that every skip
  // feature meets its upsampled value).
  int64_t size_multiple = 1;
  std::vector<Step> steps;
  // int8 programs (quantize_program): the input is quantized to s8 with this scale.
  bool int8 = false;
  float input_scale = 0.0f;
};

// Geometry of one step at one input shape: NHWC shapes and the padding oneDNN needs on the bottom/right so
// that its output size is PyTorch's floor-mode size (Window::pad_bottom/pad_right: the tightest, never
// negative).
struct StepGeometry {
  Shape src, dst;
  Window window;  // for avg_pool: the whole input as one window
  int64_t pad_bottom = 0, pad_right = 0;
};

struct ShapedProgram {
  std::vector<Shape> value_shapes;  // [N,H,W,C]; the output [N, classes]
  std::vector<StepGeometry> steps;
};

// Throws InputError when input (NHWC) has the wrong channels, a height or width that is not a multiple of
// size_multiple, or is too small for a window.
ShapedProgram shape_program(const Program& program, const Shape& input);

// The steps during which each value must exist, for the buffer planner. Time 0 is the input's arrival (the
// reorder into the plan's layout); step i runs at time i + 1; the named outputs are copied out at time
// steps.size() + 1. A value lives from the step that first writes it to the last step that reads or
// accumulates into it; a named output to the end.
struct Lifetime {
  int first = 0, last = 0;
};
std::vector<Lifetime> value_lifetimes(const Program& program);

}  // namespace resnet::infer
