#include "infer/program.h"

#include <fmt/format.h>

#include "resnet/error.h"

namespace resnet::infer {
namespace {

// A windowed step (conv, max_pool) over src [N,H,W,C]: the output's spatial size and the far padding.
StepGeometry windowed(const Step& step, const Shape& src, int64_t out_channels) {
  const Window& w = step.window;
  const int64_t oh = w.output_h(src[1]);
  const int64_t ow = w.output_w(src[2]);
  if (oh < 1 || ow < 1) {
    throw InputError(
        fmt::format("{}: input {} is too small for a {}x{} window (padding {}x{}, dilation {}x{})", step.name,
                    shape_str(src), w.kernel_h, w.kernel_w, w.pad_h, w.pad_w, w.dilation_h, w.dilation_w));
  }
  StepGeometry g;
  g.src = src;
  g.dst = {src[0], oh, ow, out_channels};
  g.window = w;
  g.pad_bottom = w.pad_bottom(src[1]);
  g.pad_right = w.pad_right(src[2]);
  return g;
}

// concat: src [N,H,W,C1] and src2 [N,H,W,C2] -> [N,H,W,C1+C2].
StepGeometry concatenated(const Step& step, const Shape& src, const Shape& src2) {
  if (src2.size() != 4 || src2[0] != src[0] || src2[1] != src[1] || src2[2] != src[2]) {
    throw InputError(fmt::format("{}: cannot concatenate {} and {} along channels (N, H and W must agree)",
                                 step.name, shape_str(src), shape_str(src2)));
  }
  StepGeometry g;
  g.src = src;
  g.dst = {src[0], src[1], src[2], src[3] + src2[3]};
  return g;
}

// src2: the shape of step.src2 (concat), else empty.
StepGeometry shape_step(const Step& step, const Shape& src, const Shape& src2) {
  const bool spatial = src.size() == 4;
  if (!spatial) throw InternalError(fmt::format("{}: input {} is not [N,H,W,C]", step.name, shape_str(src)));
  switch (step.kind) {
    case StepKind::conv: {
      const Shape& w = step.weight.shape();
      if (src[3] != w[1] * step.window.groups) {
        throw InputError(fmt::format("{}: input {} does not match weight {} with groups={}", step.name,
                                     shape_str(src), shape_str(w), step.window.groups));
      }
      return windowed(step, src, w[0]);
    }
    case StepKind::max_pool:
      return windowed(step, src, src[3]);
    case StepKind::avg_pool: {
      StepGeometry g;
      g.src = src;
      g.dst = {src[0], 1, 1, src[3]};
      g.window.kernel_h = g.window.stride_h = src[1];
      g.window.kernel_w = g.window.stride_w = src[2];
      return g;
    }
    case StepKind::linear: {
      if (src[1] != 1 || src[2] != 1 || src[3] != step.weight.dim(1)) {
        throw InputError(fmt::format("{}: input {} does not match weight {}", step.name, shape_str(src),
                                     shape_str(step.weight.shape())));
      }
      StepGeometry g;
      g.src = src;
      g.dst = {src[0], step.weight.dim(0)};
      return g;
    }
    case StepKind::upsample_nearest: {
      StepGeometry g;
      g.src = src;
      g.dst = {src[0], 2 * src[1], 2 * src[2], src[3]};
      return g;
    }
    case StepKind::concat:
      return concatenated(step, src, src2);
  }
  throw InternalError("shape_program: unknown step kind");
}

}  // namespace

std::string_view step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::conv:
      return "conv";
    case StepKind::max_pool:
      return "max_pool";
    case StepKind::avg_pool:
      return "avg_pool";
    case StepKind::linear:
      return "linear";
    case StepKind::upsample_nearest:
      return "upsample_nearest";
    case StepKind::concat:
      return "concat";
  }
  return "?";
}

ShapedProgram shape_program(const Program& program, const Shape& input) {
  if (input.size() != 4 || input[3] != program.in_channels || shape_numel(input) < 1) {
    throw InputError(fmt::format("inference plan: expected an input [N,H,W,{}] (NHWC), got {}",
                                 program.in_channels, shape_str(input)));
  }
  if (input[1] % program.size_multiple != 0 || input[2] % program.size_multiple != 0) {
    throw InputError(fmt::format("inference plan: input height and width must be multiples of {}, got {}x{}",
                                 program.size_multiple, input[1], input[2]));
  }
  ShapedProgram shaped;
  shaped.value_shapes.assign(static_cast<size_t>(program.num_values), Shape());
  shaped.value_shapes[static_cast<size_t>(program.input)] = input;
  auto written = [&](const Step& step, int v) -> const Shape& {
    const Shape& shape = shaped.value_shapes.at(static_cast<size_t>(v));
    if (shape.empty()) throw InternalError(fmt::format("{}: reads a value nothing wrote", step.name));
    return shape;
  };
  for (const Step& step : program.steps) {
    const bool two_sources = step.kind == StepKind::concat;
    StepGeometry g =
        shape_step(step, written(step, step.src), two_sources ? written(step, step.src2) : Shape());
    Shape& dst = shaped.value_shapes.at(static_cast<size_t>(step.dst));
    if (step.accumulate && dst != g.dst) {
      throw InputError(fmt::format("{}: the residual branch gives {} but the shortcut gives {}", step.name,
                                   shape_str(g.dst), shape_str(dst)));
    }
    dst = g.dst;
    shaped.steps.push_back(std::move(g));
  }
  return shaped;
}

std::vector<Lifetime> value_lifetimes(const Program& program) {
  constexpr int kUnset = -1;
  std::vector<Lifetime> lives(static_cast<size_t>(program.num_values), Lifetime{kUnset, kUnset});
  lives[static_cast<size_t>(program.input)] = {0, 0};
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const Step& step = program.steps[i];
    const int time = static_cast<int>(i) + 1;
    auto read = [&](int v) {
      Lifetime& src = lives.at(static_cast<size_t>(v));
      if (src.first == kUnset) throw InternalError(fmt::format("{}: reads a value nothing wrote", step.name));
      src.last = time;
    };
    read(step.src);
    if (step.kind == StepKind::concat) read(step.src2);
    Lifetime& dst = lives.at(static_cast<size_t>(step.dst));
    if (dst.first == kUnset) {
      if (step.accumulate) throw InternalError(fmt::format("{}: accumulates into nothing", step.name));
      dst.first = time;
    }
    dst.last = time;
  }
  const int copied_out = static_cast<int>(program.steps.size()) + 1;
  for (const ProgramOutput& out : program.outputs) {
    Lifetime& life = lives.at(static_cast<size_t>(out.value));
    if (life.first == kUnset) throw InternalError(fmt::format("output {}: nothing writes it", out.name));
    life.last = copied_out;
  }
  for (Lifetime& life : lives) {
    if (life.first == kUnset) life = {0, 0};  // never used: a zero-length life
  }
  return lives;
}

}  // namespace resnet::infer
