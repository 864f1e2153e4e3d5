// The parts of smp's U-Net decoder (segmentation_models_pytorch/decoders/unet/decoder.py, base/modules.py,
// base/heads.py), named and printed as smp's: Conv2dReLU, UnetDecoderBlock, UnetDecoder, SegmentationHead.
// Activations are NHWC in the compute dtype (f32 or bf16) of the tensors given.
#pragma once

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "models/block_structure.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"
#include "resnet/error.h"
#include "resnet/module.h"

namespace resnet {

class ModuleList;

// smp's Conv2dReLU with use_norm="batchnorm": (0) Conv2d 3x3 padding 1, no bias, (1) BatchNorm2d, (2) ReLU.
class Conv2dReLU : public Sequential {
 public:
  Conv2dReLU(std::string path, int64_t in_channels, int64_t out_channels);
  Conv2d& conv() { return conv_; }
  // Its three children as one stage: conv, bn, relu.
  BranchStage stage() const { return stage_; }

 private:
  Conv2d& conv_;
  BranchStage stage_;
};

// What a decoder block computes, described once by UnetDecoderBlock and read by the inference plan's
// lowering (infer/lower.cpp), as BlockStructure is for residual blocks:
//   out = stage_k(...stage_1(concat(upsample_x2(x), skip)))     stage_i(x) = relu(bn(conv(x)))
// (no concat when skip_channels is 0). The pointers are the block's own modules.
struct DecoderBlockStructure {
  int64_t in_channels = 0;                // of x, before the upsample
  int64_t skip_channels = 0;              // of the skip feature concatenated after x's channels; 0: none
  std::vector<BranchStage> stages;        // in data-flow order
  std::vector<const Module*> containers;  // the modules grouping the stages (smp's Conv2dReLU)
  std::vector<const Module*> identities;  // modules that pass their input through (smp's Attention(None))

  // Whether `module` (a child of the block, or of one of its containers) is one this structure names.
  bool describes(const Module& module) const;
};

// smp's UnetDecoderBlock (attention_type=None, interpolation "nearest"): x [N,h,w,in] -> x2 nearest upsample
// -> [N,2h,2w,in], concat with skip [N,2h,2w,skip] (if any) -> conv1 -> conv2 -> [N,2h,2w,out].
class UnetDecoderBlock : public Module {
 public:
  UnetDecoderBlock(std::string path, int64_t in_channels, int64_t skip_channels, int64_t out_channels);

  // skip: undefined for a block without one (skip_channels 0).
  Tensor forward(const Tensor& x, const Tensor& skip);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  // dy [N,2h,2w,out] -> {dx [N,h,w,in], dskip [N,2h,2w,skip] (undefined without a skip)}.
  std::pair<Tensor, Tensor> backward_with_skip(const Tensor& dy);
  Tensor backward(const Tensor& dy) override;

  std::vector<Conv2d*> convs() { return {&conv1_.conv(), &conv2_.conv()}; }
  const DecoderBlockStructure& structure() const { return structure_; }
  // The first of its parts (children, and the children of its containers) that structure() does not name, or
  // nullptr: code that re-expresses the block from its structure (the plan's lowering, the ONNX export)
  // refuses it.
  Module* undescribed_part() const;

 private:
  int64_t in_channels_, skip_channels_;
  Conv2dReLU& conv1_;
  Module& attention1_;
  Conv2dReLU& conv2_;
  Module& attention2_;
  DecoderBlockStructure structure_;
};

// smp's UnetDecoder for a ResNet encoder: (center) Identity, (blocks) ModuleList of UnetDecoderBlock.
class UnetDecoder : public Module {
 public:
  // encoder_channels: the channels of the features it is given (stem first, deepest last); one block per
  // decoder_channels entry (as many as features).
  UnetDecoder(std::string path, const std::vector<int64_t>& encoder_channels,
              const std::vector<int>& decoder_channels);

  // features [stem [N,H/2,W/2,c0], ..., deepest [N,H/2^D,W/2^D,c(D-1)]] -> [N,H,W,decoder_channels.back()]
  Tensor forward(const std::vector<Tensor>& features);
  Tensor forward(const Tensor& x) override;  // InternalError: the decoder needs the encoder's features
  // dy [N,H,W,last] -> dL/d(each feature), in the order of forward's features.
  std::vector<Tensor> backward_features(const Tensor& dy);

  std::vector<UnetDecoderBlock*> blocks() const { return blocks_; }
  // The first child that is neither the identity `center` nor the blocks' list (a decoder this code does not
  // know: attention, another center), or nullptr.
  Module* unknown_child() const;

 private:
  Module& center_;
  std::vector<UnetDecoderBlock*> blocks_;
};

// smp's UnetDecoder forward, for code that re-expresses it over its own values (the plan's lowering: value
// ids; the ONNX export: tensor names): features [stem, ..., deepest] -> the last block's output. The deepest
// feature enters block 0 (through the identity `center`); block i takes feature D-2-i as its skip, the last
// block `no_skip`. block(UnetDecoderBlock&, x, skip) -> the block's output. InternalError when the features
// are not one per block.
template <class Value, class BlockFn>
Value walk_unet_decoder(const UnetDecoder& decoder, const std::vector<Value>& features, const Value& no_skip,
                        BlockFn&& block) {
  const std::vector<UnetDecoderBlock*> blocks = decoder.blocks();
  if (features.size() != blocks.size()) {
    throw InternalError(
        fmt::format("{}: {} features for {} blocks", decoder.path(), features.size(), blocks.size()));
  }
  const size_t depth = blocks.size();
  Value x = features.back();
  for (size_t i = 0; i < depth; ++i)
    x = block(*blocks[i], x, i + 1 < depth ? features[depth - 2 - i] : no_skip);
  return x;
}

// smp's SegmentationHead(kernel_size=3, activation=None, upsampling=1): (0) Conv2d 3x3 padding 1 with bias,
// (1) Identity, (2) Activation(Identity).
class SegmentationHead : public Sequential {
 public:
  SegmentationHead(std::string path, int64_t in_channels, int64_t classes);
  Conv2d& conv() { return conv_; }

 private:
  Conv2d& conv_;
};

}  // namespace resnet
