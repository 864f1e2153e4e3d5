// U-Net with a ResNet encoder: segmentation_models_pytorch's Unet(encoder_name=<zoo resnet>, encoder_depth,
// decoder_channels, decoder_use_batchnorm=True, in_channels, classes), module for module. Its state_dict keys
// are smp's by construction: "encoder.*" (torchvision's names, no fc), "decoder.blocks.N.conv1.0.weight",
// "decoder.blocks.N.conv1.1.*" (BN), "decoder.blocks.N.conv2.*", "segmentation_head.0.weight/bias"; so an smp
// checkpoint loads here and ours loads in smp; module_repr(unet) equals smp's print(model).
//
// Data flow (depth D; features of the encoder: stem (/2), layer1 (/4), ..., layer(D-1) (/2^D)):
//   head = the deepest feature; block i (0..D-1): x2 nearest upsample, concat the skip feature of the same
//   size (block i takes feature D-2-i; the last block has none), conv3x3-BN-ReLU twice; a conv3x3
//   segmentation head gives the logits at the input's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resnet/model.h"

namespace resnet {

struct UNetConfig {
  std::string name = "unet-resnet34";
  // An ImageNet-family zoo ResNet (its stages halve the size: no CIFAR stem, no dilation); its classifier
  // setting is ignored (the encoder has none). encoder.in_channels is the model's input channels.
  ResNetConfig encoder;
  int encoder_depth = 5;  // 3..5
  std::vector<int> decoder_channels = {256, 128, 64, 32,
                                       16};  // one per decoder block (encoder_depth of them)
  int classes = 1;
};

// smp's default decoder_channels for a depth: (256, 128, 64, 32, 16)[:depth].
std::vector<int> default_decoder_channels(int encoder_depth);

// The named U-Nets, "unet-<encoder>" for each of the ten ImageNet-family zoo ResNets, in the zoo's order.
const std::vector<std::string>& unet_zoo_names();
bool is_unet_name(const std::string& arch);
// The config of a named U-Net: classes 0 = smp's default (1); decoder_channels empty = the depth's default.
// InputError for an unknown name, a CIFAR encoder ("unet-resnet20"), a depth outside 3..5 or a
// decoder_channels of another length.
UNetConfig unet_zoo_config(const std::string& name, int classes = 0, int in_channels = 3,
                           int encoder_depth = 5, std::vector<int> decoder_channels = {});

class UnetDecoder;
class Conv2d;

class UNet : public Module {
 public:
  // Initialisation as smp: the encoder torchvision's (from seed), the decoder's convolutions
  // kaiming_uniform(fan_in, relu) and its BN 1/0, the head xavier_uniform with bias 0 (Init::none: zeros).
  UNet(const UNetConfig& config, uint64_t seed = 0, Init init = Init::torchvision);
  ~UNet() override;

  // x [N,H,W,in_channels] f32 (H and W multiples of 2^encoder_depth, else InputError) -> logits
  // [N,H,W,classes] f32.
  Tensor forward(const Tensor& x) override;
  // dlogits [N,H,W,classes] -> dL/dx [N,H,W,in_channels] f32, or an undefined tensor when a frozen encoder
  // stopped it; accumulates every parameter's gradient (the encoder's stages below the depth get none, as in
  // smp, where they do not run).
  Tensor backward(const Tensor& dlogits) override;

  const UNetConfig& config() const { return config_; }
  ResNet& encoder() { return encoder_; }
  UnetDecoder& decoder() { return decoder_; }
  Module& segmentation_head() { return segmentation_head_; }

  // As ResNet::set_compute_dtype: bf16 runs the encoder and the decoder in bf16; the segmentation head, the
  // parameters, their gradients and the logits stay f32.
  void set_compute_dtype(DType dtype);
  DType compute_dtype() const { return encoder_.compute_dtype(); }
  // Freezes a part of the encoder, as ResNet::freeze ("stem", "layer1".."layer4", "backbone" = the whole
  // encoder; "" = nothing). The decoder and the head always learn.
  void freeze(const std::string& part);

 private:
  void check_input(const Tensor& x) const;

  UNetConfig config_;
  ResNet& encoder_;
  UnetDecoder& decoder_;
  Module& segmentation_head_;
  Conv2d* head_conv_ = nullptr;
};

}  // namespace resnet
