// The two residual blocks of torchvision's resnet.py. Names and registration order follow torchvision
// exactly, so parameters come out as "layer1.0.conv1.weight" and state_dict order matches.
//
//   BasicBlock (expansion 1):
//     conv3x3(stride) - bn1 - relu - conv3x3 - bn2 [- dropout] + shortcut - relu
//   Bottleneck (expansion 4; the stride on the 3x3 conv, as torchvision v1.5):
//     conv1x1 - bn1 - relu - conv3x3(stride, groups, dilation) - bn2 - relu - conv1x1 - bn3 [- dropout]
//     + shortcut - relu
// The shortcut is a projection (downsample = 1x1 conv(stride) + BN) exactly when stride != 1 or channels
// change.
//
// A block kind's constructor only registers its modules and describes them in a BlockStructure; forward,
// backward and the inference plan's lowering all walk that one description.
#pragma once

#include <vector>

#include "models/block_structure.h"
#include "nn/two_part_backward.h"
#include "resnet/model.h"

namespace resnet {

struct BlockOptions {
  int64_t inplanes = 64;
  int64_t planes = 64;
  int64_t stride = 1;
  int64_t groups = 1;
  int64_t base_width = 64;
  int64_t dilation = 1;
  bool reshape_shortcut = false;  // stride != 1 or channels change: the shortcut must change shape
  Shortcut shortcut = Shortcut::projection;
  float dropout = 0.0f;  // Dropout2d on the residual branch before the add
  uint64_t seed = 0;     // for the dropout masks
};

// Runs any block described by a BlockStructure.
class ResidualBlock : public Module, public TwoPartBackward {
 public:
  // x [N,H,W,inplanes] -> [N,H/stride,W/stride,planes*expansion]: the branch's stages, dropout, the shortcut,
  // the add and the output ReLU. Train mode keeps each stage ReLU's output for backward.
  Tensor forward(const Tensor& x) override;
  // dy -> dx: through the output ReLU, then the branch (and dropout) and the shortcut, whose gradients sum.
  Tensor backward(const Tensor& dy) override;
  // The same with dy = a + b added in the output ReLU's backward pass, and dx left as the branch's part
  // (returned) and the shortcut's (`other`; undefined without a shortcut).
  Tensor backward_parts(Tensor a, Tensor b, Tensor& other) override;

  const BlockStructure& structure() const { return structure_; }
  // The last BN of the residual branch (zero_init_residual zeroes its weight).
  BatchNorm2d& last_bn();

 protected:
  ResidualBlock(std::string path, std::string type_name) : Module(std::move(path), std::move(type_name)) {}
  // Registers the shortcut (projection "downsample" or zero-padding "shortcut") and the dropout after the
  // branch's own modules, in torchvision's order, and describes them.
  void add_shortcut_and_dropout(const BlockOptions& o, int64_t out_channels);

  BlockStructure structure_;  // filled by the block kind's constructor

 private:
  std::vector<Tensor> stage_activations_;  // train mode: the output of each stage's ReLU (or undefined)
};

class BasicBlock : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(std::string path, const BlockOptions& options);
};

class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(std::string path, const BlockOptions& options);
};

}  // namespace resnet
