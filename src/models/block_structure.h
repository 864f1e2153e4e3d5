// What a residual block computes, described once by the block kind's constructor and read by every walker:
// the block's forward and backward (models/blocks.cpp) and the inference plan's lowering (infer/lower.cpp).
//
//   out = output_relu( dropout( stage_k(...stage_1(x)) ) + shortcut(x) )
//   stage_i(x) = [relu]( [bn]( conv(x) ) )
//
// The pointers are the block's own children (the modules it registered, with torchvision's names); a module
// may appear more than once (torchvision's blocks call their one "relu" after the inner stages and the join).
#pragma once

#include <vector>

#include "models/zero_pad_shortcut.h"
#include "nn/activation.h"
#include "nn/batchnorm2d.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/sequential.h"

namespace resnet {

// One stage of the residual branch: a convolution, its batch norm, and whether a ReLU follows.
struct BranchStage {
  Conv2d* conv = nullptr;
  BatchNorm2d* bn = nullptr;  // null: no batch norm
  ReLU* relu = nullptr;       // null: no activation (the last stage: the join comes first)
};

enum class ShortcutKind {
  identity,    // the block's input as it is
  projection,  // `downsample`: Sequential(conv1x1(stride), BatchNorm2d), torchvision's
  zero_pad,    // `zero_pad`: the parameter-free ZeroPadShortcut (He et al. option A)
  none,        // no shortcut and no join: out = output_relu(branch(x)) (a plain network's block)
};

struct BlockStructure {
  std::vector<BranchStage> branch;  // in data-flow order
  Dropout* dropout = nullptr;       // Dropout2d on the branch's output, before the join; null: none
  ShortcutKind shortcut = ShortcutKind::identity;
  Sequential* downsample = nullptr;     // ShortcutKind::projection only
  ZeroPadShortcut* zero_pad = nullptr;  // ShortcutKind::zero_pad only
  ReLU* output_relu = nullptr;          // after the join; null: none

  // The module that computes the shortcut: downsample, zero_pad, or null for the identity and none.
  Module* shortcut_module() const;
  // Whether `module` is one of the modules this structure names (a child of the block it accounts for).
  bool describes(const Module& module) const;
};

}  // namespace resnet
