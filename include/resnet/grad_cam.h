// Grad-CAM (Selvaraju et al. 2017): where a classifier looks. For class k and a stage whose output is
// A [h,w,C]: alpha_c = the spatial mean of d logit_k / d A_c, cam = ReLU(sum_c alpha_c A_c) [h,w], normalised
// to [0,1] ((cam - min) / (max - min); all zeros if flat), then upsampled bilinearly (half-pixel centres, as
// torch's F.interpolate(align_corners=False)) to the input's [H,W]. The model runs as after model.eval():
// batch norm with its running statistics, dropout off; gradients flow as through a PyTorch forward hook +
// backward.
//
//   resnet::GradCam g = resnet::grad_cam(model, x, {.layer = "layer3"});  // x [1,H,W,C], normalised
//   resnet::write_grad_cam_png(pixels, g.cam, "tabby cat 0.873", "cam.png");
#pragma once

#include <cstdint>
#include <string>

#include "resnet/model.h"
#include "resnet/tensor.h"

namespace resnet {

struct GradCamOptions {
  std::string layer = "layer4";  // "stem" or "layer1".."layerN" (ResNet::stage_names())
  int64_t class_index = -1;      // -1: the top-1 class
};

struct GradCam {
  Tensor cam;  // f32 [H,W] in [0,1], the input's height and width
  int64_t class_index = 0;
  double probability = 0.0;  // softmax probability of that class
  Tensor logits;             // f32 [num_classes]
};

// x: f32 [1,H,W,in_channels], the model's input (after Normalize). Runs the model in eval mode with gradients
// for the call (set_eval_backward) and leaves it in eval mode; parameter gradients accumulate as in any
// backward. InputError: x not one image, an unknown layer, a class index out of range.
GradCam grad_cam(ResNet& model, const Tensor& x, const GradCamOptions& options = {});

// The map as a picture: `pixels` f32 [H,W,C] in [0,1] (the input before Normalize; C = 1 or 3) with `cam`
// [H,W] as a turbo colour map blended over it, and `caption` in a band at the top. Inputs smaller than 224
// pixels are scaled up by the smallest whole factor that makes the shorter side at least 224 (nearest for
// the image, bilinear for the map); others keep their size. Written atomically; InputError naming the path.
void write_grad_cam_png(const Tensor& pixels, const Tensor& cam, const std::string& caption,
                        const std::string& path);

}  // namespace resnet
