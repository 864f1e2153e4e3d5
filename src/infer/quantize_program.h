// int8 quantization of an inference Program (no oneDNN here): per-output-channel symmetric weight scales,
// the u8/s8 choice per activation, and the scales every step reads and writes (see resnet/calibration.h).
#pragma once

#include "infer/program.h"
#include "resnet/calibration.h"

namespace resnet::infer {

struct QuantizedWeight {
  Tensor values;  // s8, the weight's shape: round(w / scales[o]) in [-127, 127]
  Tensor scales;  // f32 [O]: max |w[o]| / 127 (1 for an all-zero channel)
};
// weight: f32 [O, ...] (any trailing shape).
QuantizedWeight quantize_per_channel(const Tensor& weight);

// The scale of an activation whose values lie within [-threshold, threshold]: threshold / 255 for u8 (a ReLU
// output, never negative), threshold / 127 for s8. A zero threshold (a tensor that was all zeros) gives the
// scale of a tiny threshold, so that every integer stays finite.
float activation_scale(double threshold, DType type);

// The type a step writes in an int8 program: conv u8 after ReLU, else s8; max_pool keeps `src_type`;
// avg_pool and linear f32.
DType int8_output_type(const Step& step, DType src_type);

// Fills step.int8 of every step and the program's input scale from `calibration` (scales of "input" and of
// every conv by its name). Throws InputError naming the first conv (or "input") the calibration has no scale
// for, or whose stored weight scales differ from the folded weights' (the calibration belongs to other
// weights).
void quantize_program(Program& program, const Int8Calibration& calibration);

}  // namespace resnet::infer
