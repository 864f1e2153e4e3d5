// Dropout (element-wise) and Dropout2d (whole channels), as torch.nn: active only in train mode, survivors
// scaled by 1/(1-p), masks drawn from a seeded generator so runs repeat.
#pragma once

#include "core/rng.h"
#include "resnet/module.h"

namespace resnet {

class Dropout : public Module {
 public:
  // per_channel=false: torch.nn.Dropout; true: torch.nn.Dropout2d (one draw per sample and channel).
  Dropout(std::string path, float p, bool per_channel, uint64_t seed);
  // x [N,H,W,C] (or [N,F]) -> same shape
  Tensor forward(const Tensor& x) override;
  // dy -> dy * mask (the forward's mask).
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;

 private:
  float p_;
  bool per_channel_;
  Rng rng_;
  Tensor mask_;  // scale per element (Dropout) or per [N, C] (Dropout2d): 0 or 1/(1-p)
};

}  // namespace resnet
