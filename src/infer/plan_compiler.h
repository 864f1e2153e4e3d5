// The internal entry point of InferencePlan: compiles a Program — lowered from a ResNet (compile,
// compile_features) or built by hand (the plan tests, other model families) — without a model.
#pragma once

#include "infer/program.h"
#include "resnet/plan.h"

namespace resnet::infer {

class PlanCompiler {
 public:
  // program: logits (program.output) or named outputs (program.outputs). precision int8 needs
  // options.int8 and quantizes the program (which must then have only logits and int8 steps). Throws as
  // InferencePlan::compile.
  static InferencePlan compile(Program program, Precision precision, const Shape& input_shape,
                               const PlanOptions& options = {});
};

}  // namespace resnet::infer
