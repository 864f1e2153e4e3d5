// The two residual blocks of torchvision's resnet.py. Names and registration order follow torchvision
// exactly, so parameters come out as "layer1.0.conv1.weight" and state_dict order matches.
//
//   BasicBlock  (expansion 1): conv3x3(stride) - bn1 - relu - conv3x3 - bn2 [- dropout] + shortcut - relu
//   Bottleneck  (expansion 4): conv1x1 - bn1 - relu - conv3x3(stride, groups, dilation) - bn2 - relu -
//   conv1x1 - bn3
//                              [- dropout] + shortcut - relu           (stride on the 3x3 conv, as
//                              torchvision v1.5)
// The shortcut is a projection (downsample = 1x1 conv(stride) + BN) exactly when stride != 1 or channels
// change.
#pragma once

#include <memory>

#include "nn/activation.h"
#include "nn/batchnorm2d.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/sequential.h"
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

// Shared by both blocks: the optional projection shortcut, dropout, the residual add and the final ReLU.
class ResidualBlock : public Module {
 public:
  // x [N,H,W,inplanes] -> [N,H/stride,W/stride,planes*expansion]
  Tensor forward(const Tensor& x) override;
  // dy -> dx: through the output ReLU, then the branch (and dropout) and the shortcut, whose gradients sum.
  Tensor backward(const Tensor& dy) override;

  // The last BN of the residual branch (zero_init_residual zeroes its weight).
  virtual BatchNorm2d& last_bn() = 0;

 protected:
  ResidualBlock(std::string path, std::string type_name) : Module(std::move(path), std::move(type_name)) {}
  // The residual branch up to (and including) its last BN.
  virtual Tensor branch_forward(const Tensor& x) = 0;
  virtual Tensor branch_backward(const Tensor& dy) = 0;
  // Registered after the branch's own modules, in torchvision's order.
  void add_shortcut_and_dropout(const BlockOptions& o, int64_t out_channels);

  ReLU* relu_ = nullptr;        // "relu": the block's output ReLU
  Module* shortcut_ = nullptr;  // "downsample" (projection) or "shortcut" (zero padding); null for identity
  Dropout* dropout_ = nullptr;
};

class BasicBlock : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(std::string path, const BlockOptions& options);
  BatchNorm2d& last_bn() override { return *bn2_; }

 private:
  Tensor branch_forward(const Tensor& x) override;
  Tensor branch_backward(const Tensor& dy) override;
  Conv2d* conv1_;
  BatchNorm2d* bn1_;
  Conv2d* conv2_;
  BatchNorm2d* bn2_;
  std::unique_ptr<ReLU>
      relu1_;  // the same "relu" name as torchvision, a separate instance keeps its own state
};

class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(std::string path, const BlockOptions& options);
  BatchNorm2d& last_bn() override { return *bn3_; }

 private:
  Tensor branch_forward(const Tensor& x) override;
  Tensor branch_backward(const Tensor& dy) override;
  Conv2d* conv1_;
  BatchNorm2d* bn1_;
  Conv2d* conv2_;
  BatchNorm2d* bn2_;
  Conv2d* conv3_;
  BatchNorm2d* bn3_;
  std::unique_ptr<ReLU> relu1_, relu2_;
};

}  // namespace resnet
