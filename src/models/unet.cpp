// smp's Unet with a ResNet encoder (include/resnet/unet.h): the encoder is our ResNet without a classifier,
// the decoder and head are models/unet_decoder.h; this file wires them and checks the input.
#include "resnet/unet.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>

#include "dnnl/ops.h"
#include "models/init.h"
#include "models/unet_decoder.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// The encoder as smp builds it: the ResNet without avgpool and fc.
ResNetConfig encoder_config(const UNetConfig& c) {
  ResNetConfig e = c.encoder;
  e.classifier = false;
  return e;
}

void validate(const UNetConfig& c) {
  const ResNetConfig& e = c.encoder;
  if (e.stem != Stem::imagenet || e.layers.size() != 4 ||
      e.replace_stride_with_dilation != std::array<bool, 3>{false, false, false}) {
    throw InputError(fmt::format(
        "{}: the U-Net needs an encoder whose stages each halve the size (an ImageNet-family ResNet "
        "with its 7x7/2 stem: resnet18 ... wide_resnet101_2); {} {}",
        c.name, e.name, e.stem == Stem::cifar ? "has the CIFAR stem" : "does not halve at every stage"));
  }
  if (c.encoder_depth < 3 || c.encoder_depth > 5)
    throw InputError(fmt::format("{}: --encoder-depth must be 3, 4 or 5, got {}", c.name, c.encoder_depth));
  if (static_cast<int>(c.decoder_channels.size()) != c.encoder_depth) {
    throw InputError(
        fmt::format("{}: --decoder-channels has {} values ({}) for --encoder-depth {}: give one per "
                    "decoder block",
                    c.name, c.decoder_channels.size(), fmt::join(c.decoder_channels, ","), c.encoder_depth));
  }
  for (int channels : c.decoder_channels) {
    if (channels < 1)
      throw InputError(fmt::format("{}: --decoder-channels must be positive, got {}", c.name, channels));
  }
  if (c.classes < 1)
    throw InputError(fmt::format("{}: --num-classes must be >= 1, got {}", c.name, c.classes));
}

const UNetConfig& validated(const UNetConfig& c) {
  validate(c);
  return c;
}

// The encoder features the decoder takes: "stem", "layer1", ..., one per level of the depth.
std::vector<std::string> feature_stages(int depth) {
  std::vector<std::string> stages = {"stem"};
  for (int i = 1; i < depth; ++i) stages.push_back(fmt::format("layer{}", i));
  return stages;
}

std::vector<int64_t> feature_channels(const ResNet& encoder, int depth) {
  std::vector<int64_t> channels;
  for (const FeatureInfo& info : encoder.feature_info()) {
    if (static_cast<int>(channels.size()) < depth) channels.push_back(info.channels);
  }
  return channels;
}

void visit(Module& m, const std::function<void(Module&)>& f) {
  f(m);
  for (Module* child : m.children()) visit(*child, f);
}

}  // namespace

std::vector<int> default_decoder_channels(int encoder_depth) {
  const std::vector<int> all = {256, 128, 64, 32, 16};
  if (encoder_depth < 1 || encoder_depth > 5)
    throw InputError(fmt::format("--encoder-depth must be 3, 4 or 5, got {}", encoder_depth));
  return {all.begin(), all.begin() + encoder_depth};
}

UNet::UNet(const UNetConfig& config, uint64_t seed, Init init)
    : Module("", "Unet"),
      config_(validated(config)),
      encoder_(add_child<ResNet>("encoder", "ResNetEncoder", encoder_config(config), seed, init)),
      decoder_(add_child<UnetDecoder>("decoder", feature_channels(encoder_, config.encoder_depth),
                                      config.decoder_channels)),
      segmentation_head_(
          add_child<SegmentationHead>("segmentation_head", config.decoder_channels.back(), config.classes)) {
  head_conv_ = &static_cast<SegmentationHead&>(segmentation_head_).conv();
  if (init == Init::none) return;
  // smp's initialize_decoder then initialize_head, each in module order (BN is already 1/0).
  Rng rng(seed ^ 0x5eed0fde0de4ull);
  visit(decoder_, [&](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) init_kaiming_uniform_fan_in(*conv, rng);
  });
  init_xavier_uniform(*head_conv_, rng);
}

UNet::~UNet() = default;

void UNet::check_input(const Tensor& x) const {
  const int64_t multiple = int64_t{1} << config_.encoder_depth;
  if (x.rank() != 4 || x.dim(3) != config_.encoder.in_channels) {
    throw InputError(fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", config_.name,
                                 config_.encoder.in_channels, shape_str(x.shape())));
  }
  if (x.dim(1) % multiple != 0 || x.dim(2) % multiple != 0) {
    throw InputError(
        fmt::format("{}: input height and width must be multiples of {} (2^encoder_depth, depth {}), "
                    "got {}x{}",
                    config_.name, multiple, config_.encoder_depth, x.dim(1), x.dim(2)));
  }
}

// x [N,H,W,C] -> logits [N,H,W,classes] f32
Tensor UNet::forward(const Tensor& x) {
  check_input(x);
  const std::vector<Tensor> features = encoder_.forward_features(x, feature_stages(config_.encoder_depth));
  const Tensor decoded = decoder_.forward(features);  // [N,H,W,decoder_channels.back()], compute dtype
  return segmentation_head_.forward(ops::convert(decoded, DType::f32));
}

// dlogits [N,H,W,classes] -> dx [N,H,W,C] f32 (undefined when the encoder is frozen)
Tensor UNet::backward(const Tensor& dlogits) {
  const Tensor ddecoded = ops::convert(segmentation_head_.backward(dlogits), encoder_.compute_dtype());
  return encoder_.backward_features(decoder_.backward_features(ddecoded));
}

void UNet::set_compute_dtype(DType dtype) {
  encoder_.set_compute_dtype(dtype);
}

void UNet::freeze(const std::string& part) {
  encoder_.freeze(part);
}

}  // namespace resnet
