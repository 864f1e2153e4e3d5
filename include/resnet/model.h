// ResNet: one builder, many configs (as torchvision's resnet.py). Built modules carry torchvision's names.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resnet/module.h"

namespace resnet {

class BatchNorm2d;
class Conv2d;
class ReLU;

enum class BlockKind { basic, bottleneck };
enum class Stem { imagenet, cifar };  // imagenet: 7x7/2 conv + 3x3/2 max-pool; cifar: 3x3/1 conv, no max-pool
// How a block's shortcut changes shape when stride != 1 or channels change:
//   projection: downsample = 1x1 conv(stride) + BN (torchvision, "option B")
//   zero_pad:   take every stride-th pixel and zero-pad the new channels, no parameters
//               (He et al. 2015 §4.2, the CIFAR networks' "option A")
//   none:       no shortcut in any block, out = relu(branch(x)): the "plain" networks of He et al. Fig. 6,
//               same layers and init as the residual ones, only the residual add is gone
enum class Shortcut { projection, zero_pad, none };

struct ResNetConfig {
  std::string name = "resnet";
  BlockKind block = BlockKind::basic;
  std::vector<int> layers = {2, 2, 2, 2};         // blocks per stage
  std::vector<int> widths = {64, 128, 256, 512};  // planes per stage (same count as layers)
  int stem_width = 64;                            // channels out of the stem conv
  int groups = 1;
  int width_per_group = 64;
  int in_channels = 3;
  int num_classes = 1000;
  bool zero_init_residual = false;
  std::array<bool, 3> replace_stride_with_dilation = {false, false, false};  // stages 2, 3, 4
  Shortcut shortcut = Shortcut::projection;
  float dropout = 0.0f;  // Dropout2d(p) on each block's residual branch before the add; 0 = none
  Stem stem = Stem::imagenet;
  // false: a backbone only — the stem and the stages, no avgpool and no fc (segmentation_models_pytorch's
  // ResNetEncoder); forward() then returns the last stage's output.
  bool classifier = true;
};

// One stage output a backbone can hand out (timm's feature_info): its name ("stem", "layer1".."layerN"), its
// channels and its reduction (input size / feature size; dilated stages keep their input's).
struct FeatureInfo {
  std::string name;
  int64_t channels = 0;
  int64_t reduction = 1;
};

// torchvision: kaiming-normal fan_out convs, BN 1/0, PyTorch's default Linear, from a seeded generator.
// none: convolution and linear weights stay zero (for inspecting shapes, or before loading weights).
enum class Init { torchvision, none };

class ResNet : public Module {
 public:
  ResNet(const ResNetConfig& config, uint64_t seed = 0, Init init = Init::torchvision);
  // The same model as a part of a larger one: its state_dict keys start with "<path>." and it prints as
  // `type_name` (the U-Net's "encoder", a "ResNetEncoder" as smp calls it).
  ResNet(std::string path, std::string type_name, const ResNetConfig& config, uint64_t seed = 0,
         Init init = Init::torchvision);
  ~ResNet() override;

  // x [N, H, W, in_channels] -> logits [N, num_classes]; without a classifier, the last stage's output
  // [N, H/r, W/r, C] in the compute dtype.
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dlogits) override;
  const ResNetConfig& config() const { return config_; }

  // Multi-scale features (torchvision's IntermediateLayerGetter, timm's features_only): the outputs of the
  // given stages, in the order asked, each [N, H/r, W/r, C] (FeatureInfo) in the compute dtype. Runs the
  // model only up to the deepest stage asked. Unknown stage: InputError listing the names.
  std::vector<Tensor> forward_features(const Tensor& x, const std::vector<std::string>& stages);
  // Backward of the last forward_features: dfeatures[i] = dL/d(feature i) (same order; an undefined tensor
  // = no gradient through that feature). The gradients of every stage meet on the way down; returns dL/dx
  // [N,H,W,in_channels] f32, or an undefined tensor when a frozen part stopped it (freeze).
  Tensor backward_features(const std::vector<Tensor>& dfeatures);
  // Every stage's name, channels and reduction, stem first.
  std::vector<FeatureInfo> feature_info() const;

  // A look inside, for Grad-CAM: a stage is "stem" (conv1, bn1, relu; not the max-pool) or one of
  // "layer1".."layerN" (stage_names()). This forward is forward(x) that also hands out the stage's output
  // [N,h,w,C] (in the compute dtype). backward_to runs backward from the logits down to that stage only and
  // returns dL/d(its output) [N,h,w,C]; the layers below keep what they saved. Gradients in eval mode:
  // set_eval_backward(true) first (as torch: model.eval(), a forward hook on the stage, backward).
  // Unknown stage: InputError listing the names.
  Tensor forward(const Tensor& x, const std::string& stage, Tensor& stage_output);
  Tensor backward_to(const std::string& stage, const Tensor& dlogits);
  std::vector<std::string> stage_names() const;  // {"stem", "layer1", ..., "layerN"}

  // Mixed precision: with bf16, forward converts the input to bf16 and runs activations, convolutions,
  // batch norm, pooling and the residual joins in bf16 (f32 accumulation inside oneDNN); parameters, their
  // gradients, BN statistics, the final Linear and the logits stay f32. f32 (the default) runs all in f32.
  void set_compute_dtype(DType dtype);
  DType compute_dtype() const { return compute_dtype_; }

  // Transfer learning: freezes everything up to and including `part` — "stem" (conv1, bn1, relu),
  // "layer1" .. "layer4" (the stem and the stages up to that one), "backbone" (all but the classifier fc);
  // "" freezes nothing. A frozen part runs in eval mode even while the model trains (batch norm uses its
  // running statistics and does not update them, as model.eval() on those modules), its parameters get no
  // gradients (so no optimizer changes them), and backward stops above it: no gradient is computed for it or
  // below it, and backward returns an undefined tensor. Throws InputError for an unknown part.
  void freeze(const std::string& part);

  // Whether backward and backward_features compute dL/dx (default true). Training sets false, as torch's
  // input does not require grad: the stem convolution then skips its backward-data, and both return an
  // undefined tensor. Parameter gradients are the same either way.
  void set_input_gradient(bool computes);

 private:
  ResNetConfig config_;
  DType compute_dtype_ = DType::f32;
  // The position in sequence_ of the stage's last module.
  size_t stage_end(const std::string& stage) const;
  // Runs sequence_ and fc; *stage_output (if not null) = the output of sequence_[keep_after].
  Tensor run_forward(const Tensor& x, size_t keep_after, Tensor* stage_output);
  // sequence_[i]'s forward, after freezing it when i < frozen_. In training the stem's bn1 -> relu run as one
  // pass (BatchNorm2d::forward_relu) when no one observes each module's output: the step then covers both,
  // and i moves on to the relu's position.
  Tensor forward_step(size_t& i, const Tensor& y);
  // sequence_[i]'s backward within the chain from the top (backward_step: residual gradients stay in two
  // parts down to the ReLU that sums them); nothing for the stem's relu when bn1 ran it.
  void backward_step(size_t i, Tensor& a, Tensor& b);
  void check_input(const Tensor& x) const;

  std::vector<Module*> sequence_;   // the order forward runs the top-level children
  Conv2d* stem_conv_ = nullptr;     // conv1, sequence_[0]
  BatchNorm2d* stem_bn_ = nullptr;  // bn1, sequence_[1]
  ReLU* stem_relu_ = nullptr;       // relu, sequence_[2]
  size_t frozen_ = 0;               // sequence_[0, frozen_) is frozen
  Shape pooled_shape_;              // [N,1,1,C] before flatten, for backward
  // The last forward_features: where each asked feature ends in sequence_, and how far it ran.
  std::vector<size_t> feature_ends_;
  size_t features_ran_ = 0;
};

}  // namespace resnet
