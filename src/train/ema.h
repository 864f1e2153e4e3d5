// --ema: an exponential moving average of a model's weights, torchvision's ExponentialMovingAverage
// (references/classification/utils.py: torch.optim.swa_utils.AveragedModel with use_buffers=True): the
// parameters AND the buffers (BN running statistics) are averaged,
//   first update:  ema = model
//   later ones:    ema = decay * ema + (1 - decay) * model      (f32, as torch computes it)
// num_batches_tracked (i64) takes the same formula truncated, as torch's copy_ of the float result does.
#pragma once

#include <cstdint>

#include "resnet/module.h"

namespace resnet {

class WeightAverage {
 public:
  // The averaged tensors start as zeros shaped like model.state_dict() (n_averaged 0: the first update
  // copies).
  WeightAverage(Module& model, double decay);

  // One AveragedModel.update_parameters(model).
  void update(Module& model);
  // n_averaged = 0: the next update copies again (torchvision's reset during the lr warm-up epochs).
  void reset() { n_averaged_ = 0; }

  int64_t n_averaged() const { return n_averaged_; }
  double decay() const { return decay_; }
  // The averaged state_dict (the model's names); its own storage.
  const StateDict& weights() const { return weights_; }

  // For the checkpoint: the averaged tensors and "n_averaged" (an i64 [1] tensor) under `prefix`, and back
  // (InputError naming `source` if a tensor is missing or shaped differently).
  StateDict state_dict(const std::string& prefix) const;
  void load_state_dict(const StateDict& tensors, const std::string& prefix, const std::string& source);

 private:
  double decay_;
  int64_t n_averaged_ = 0;
  StateDict weights_;
};

// torchvision's train.py scales --model-ema-decay to its batch size, update interval and epochs:
//   adjust = batch_size * ema_steps / epochs;  alpha = min(1, (1 - decay) * adjust);  decay' = 1 - alpha
// (world size 1). --ema follows it: this is the decay each update uses.
double ema_decay_per_update(double decay, int64_t batch_size, int64_t ema_steps, int64_t epochs);

// Copies `weights` into the model (same names, order and shapes: a WeightAverage of it, or a saved
// state_dict of it) and returns what the model held before, to copy back with the same call.
StateDict swap_model_weights(Module& model, const StateDict& weights);

}  // namespace resnet
