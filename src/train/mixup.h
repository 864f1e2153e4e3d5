// --mixup / --cutmix: torchvision's MixUp and CutMix (transforms.v2; references/classification/transforms.py
// RandomMixup / RandomCutmix with p = 1 under RandomChoice): on each training batch, with both on, one of
// the two with probability 0.5 each. The batch is paired with itself rolled by one (image i with image
// i - 1, the first with the last), lambda ~ Beta(alpha, alpha), and the targets are the one-hot labels mixed
// the same way.
//   MixUp:  x = lambda * x + (1 - lambda) * rolled(x)
//   CutMix: a box centred at a uniform pixel (r_x, r_y) with half-sides int(0.5 * sqrt(1 - lambda) * W) and
//           (... * H), clipped to the image, takes the rolled images' pixels; lambda becomes
//           1 - box area / image area.
#pragma once

#include <cstdint>
#include <span>

#include "core/rng.h"
#include "resnet/tensor.h"

namespace resnet {

// Gamma(shape, 1) (Marsaglia-Tsang; shape < 1 by Gamma(shape + 1) * U^(1/shape)) and Beta(a, a) from them.
double sample_gamma(double shape, Rng& rng);
double sample_symmetric_beta(double alpha, Rng& rng);

struct MixChoice {
  bool cutmix = false;
  double lambda = 1.0;                 // the image's own share (after the box correction for cutmix)
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // cutmix: the pasted box [y1, y2) x [x1, x2)
};

// CutMix for a drawn lambda and box centre (r_x, r_y): the box and the corrected lambda.
MixChoice cutmix_choice(double lambda, int r_x, int r_y, int height, int width);

// The draw for one batch of images H x W: which transform, lambda, and the cutmix box.
MixChoice draw_mix(double mixup_alpha, double cutmix_alpha, int height, int width, Rng& rng);

// Applies `choice` to images [B, H, W, C] in place and returns the targets [B, classes] (f32).
Tensor apply_mix(const MixChoice& choice, Tensor& images, std::span<const int64_t> labels, int64_t classes);

}  // namespace resnet
