#include "models/unet_decoder.h"

#include <fmt/format.h>

#include <algorithm>

#include "dnnl/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm2d.h"
#include "nn/identity.h"
#include "nn/module_list.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// nn.Conv2d(in, out, kernel_size=3, padding=1, bias=bias)
Conv2dOptions conv3x3(int64_t in_channels, int64_t out_channels, bool bias) {
  return {.in_channels = in_channels,
          .out_channels = out_channels,
          .window = Window::square(3, 1, 1),
          .bias = bias};
}

}  // namespace

Conv2dReLU::Conv2dReLU(std::string path, int64_t in_channels, int64_t out_channels)
    : Sequential(std::move(path), "Conv2dReLU"),
      conv_(append<Conv2d>(conv3x3(in_channels, out_channels, false))) {
  stage_ = {.conv = &conv_, .bn = &append<BatchNorm2d>(out_channels), .relu = &append<ReLU>()};
}

bool DecoderBlockStructure::describes(const Module& module) const {
  const Module* m = &module;
  for (const BranchStage& stage : stages) {
    if (m == stage.conv || m == stage.bn || m == stage.relu) return true;
  }
  return std::find(containers.begin(), containers.end(), m) != containers.end() ||
         std::find(identities.begin(), identities.end(), m) != identities.end();
}

UnetDecoderBlock::UnetDecoderBlock(std::string path, int64_t in_channels, int64_t skip_channels,
                                   int64_t out_channels)
    : Module(std::move(path), "UnetDecoderBlock"),
      in_channels_(in_channels),
      skip_channels_(skip_channels),
      conv1_(add_child<Conv2dReLU>("conv1", in_channels + skip_channels, out_channels)),
      attention1_(add_child<IdentityWrapper>("attention1", "Attention", "attention")),
      conv2_(add_child<Conv2dReLU>("conv2", out_channels, out_channels)),
      attention2_(add_child<IdentityWrapper>("attention2", "Attention", "attention")),
      structure_{.in_channels = in_channels,
                 .skip_channels = skip_channels,
                 .stages = {conv1_.stage(), conv2_.stage()},
                 .containers = {&conv1_, &conv2_},
                 .identities = {&attention1_, &attention2_}} {}

// x [N,h,w,in], skip [N,2h,2w,skip] or undefined -> [N,2h,2w,out]
Tensor UnetDecoderBlock::forward(const Tensor& x, const Tensor& skip) {
  if (x.rank() != 4 || x.dim(3) != in_channels_ || skip.defined() != (skip_channels_ > 0)) {
    throw InternalError(fmt::format("{}: input {} with {} skip for a block of {} + {} channels", path(),
                                    shape_str(x.shape()), skip.defined() ? shape_str(skip.shape()) : "no",
                                    in_channels_, skip_channels_));
  }
  Tensor y = ops::upsample_nearest2x_forward(x);
  if (skip.defined()) {
    if (skip.dim(1) != y.dim(1) || skip.dim(2) != y.dim(2) || skip.dim(3) != skip_channels_) {
      throw InternalError(fmt::format("{}: skip {} does not fit the upsampled {}", path(),
                                      shape_str(skip.shape()), shape_str(y.shape())));
    }
    y = attention1_.forward(ops::concat_channels_forward({y, skip}));
  }
  y = conv1_.forward(y);
  y = conv2_.forward(y);
  return attention2_.forward(y);
}

std::pair<Tensor, Tensor> UnetDecoderBlock::backward_with_skip(const Tensor& dy) {
  Tensor d = attention2_.backward(dy);
  d = conv2_.backward(d);
  d = conv1_.backward(d);
  Tensor dskip;
  if (skip_channels_ > 0) {
    std::vector<Tensor> parts =
        ops::concat_channels_backward(attention1_.backward(d), {in_channels_, skip_channels_});
    d = std::move(parts[0]);
    dskip = std::move(parts[1]);
  }
  return {ops::upsample_nearest2x_backward(d), dskip};
}

Tensor UnetDecoderBlock::backward(const Tensor& dy) {
  if (skip_channels_ > 0) throw InternalError(path() + ": a block with a skip needs backward_with_skip");
  return backward_with_skip(dy).first;
}

Module* UnetDecoderBlock::undescribed_part() const {
  const DecoderBlockStructure& s = structure_;
  for (Module* child : children()) {
    const bool container = std::find(s.containers.begin(), s.containers.end(), child) != s.containers.end();
    for (Module* part : container ? child->children() : std::vector<Module*>{child}) {
      if (!s.describes(*part)) return part;
    }
  }
  return nullptr;
}

Module* UnetDecoder::unknown_child() const {
  for (Module* child : children()) {
    if (dynamic_cast<Identity*>(child) == nullptr && dynamic_cast<ModuleList*>(child) == nullptr)
      return child;
  }
  return nullptr;
}

UnetDecoder::UnetDecoder(std::string path, const std::vector<int64_t>& encoder_channels,
                         const std::vector<int>& decoder_channels)
    : Module(std::move(path), "UnetDecoder"), center_(add_child<Identity>("center")) {
  if (encoder_channels.size() != decoder_channels.size()) {
    throw InputError(fmt::format("{}: {} decoder channels for {} encoder features", this->path(),
                                 decoder_channels.size(), encoder_channels.size()));
  }
  // As smp: the deepest feature enters block 0; block i's skip is the feature one level up, the last has
  // none.
  auto& list = add_child<ModuleList>("blocks");
  const size_t depth = encoder_channels.size();
  int64_t in_channels = encoder_channels.back();
  for (size_t i = 0; i < depth; ++i) {
    const int64_t skip_channels = i + 1 < depth ? encoder_channels[depth - 2 - i] : 0;
    blocks_.push_back(&list.append<UnetDecoderBlock>(in_channels, skip_channels, decoder_channels[i]));
    in_channels = decoder_channels[i];
  }
}

// features [stem, ..., deepest] -> [N,H,W,last decoder channels]
Tensor UnetDecoder::forward(const std::vector<Tensor>& features) {
  const size_t depth = blocks_.size();
  if (features.size() != depth) {
    throw InternalError(fmt::format("{}: {} features for {} blocks", path(), features.size(), depth));
  }
  Tensor x = center_.forward(features.back());
  for (size_t i = 0; i < depth; ++i) {
    x = blocks_[i]->forward(x, i + 1 < depth ? features[depth - 2 - i] : Tensor());
  }
  return x;
}

Tensor UnetDecoder::forward(const Tensor&) {
  throw InternalError(path() + " (UnetDecoder): forward needs the encoder's features");
}

std::vector<Tensor> UnetDecoder::backward_features(const Tensor& dy) {
  const size_t depth = blocks_.size();
  std::vector<Tensor> dfeatures(depth);
  Tensor d = dy;
  for (size_t i = depth; i-- > 0;) {
    auto [dx, dskip] = blocks_[i]->backward_with_skip(d);
    if (i + 1 < depth) dfeatures[depth - 2 - i] = std::move(dskip);
    d = std::move(dx);
  }
  dfeatures.back() = center_.backward(d);
  return dfeatures;
}

SegmentationHead::SegmentationHead(std::string path, int64_t in_channels, int64_t classes)
    : Sequential(std::move(path), "SegmentationHead"),
      conv_(append<Conv2d>(conv3x3(in_channels, classes, true))) {
  append<Identity>();
  append<IdentityWrapper>("Activation", "activation");
}

}  // namespace resnet
