#include "train/ema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "resnet/error.h"

namespace resnet {

WeightAverage::WeightAverage(Module& model, double decay) : decay_(decay) {
  for (const NamedTensor& t : model.state_dict()) {
    weights_.push_back({t.name, Tensor::zeros(t.tensor.shape(), t.tensor.dtype())});
  }
}

void WeightAverage::update(Module& model) {
  const StateDict current = model.state_dict();
  if (current.size() != weights_.size()) throw InternalError("WeightAverage: the model's state_dict changed");
  // torch: a python float times a float32 tensor multiplies in float32.
  const float d = float(decay_), rest = float(1.0 - decay_);
  for (size_t i = 0; i < current.size(); ++i) {
    const Tensor& from = current[i].tensor;
    Tensor& to = weights_[i].tensor;
    if (n_averaged_ == 0) {
      to.copy_from(from);
      continue;
    }
    const int64_t n = from.numel();
    if (from.dtype() == DType::f32) {
      const float* p = from.f32();
      float* e = to.f32();
      for (int64_t k = 0; k < n; ++k) {
        const float kept = d * e[k], added = rest * p[k];
        e[k] = kept + added;
      }
    } else if (from.dtype() == DType::i64) {
      const int64_t* p = static_cast<const int64_t*>(from.data());
      int64_t* e = static_cast<int64_t*>(to.data());
      for (int64_t k = 0; k < n; ++k) {
        e[k] = int64_t(std::trunc(float(d * float(e[k])) + float(rest * float(p[k]))));
      }
    } else {
      to.copy_from(from);
    }
  }
  ++n_averaged_;
}

StateDict WeightAverage::state_dict(const std::string& prefix) const {
  StateDict out;
  for (const NamedTensor& t : weights_) out.push_back({prefix + t.name, t.tensor.clone()});
  Tensor n({1}, DType::i64);
  *static_cast<int64_t*>(n.data()) = n_averaged_;
  out.push_back({prefix + "n_averaged", n});
  return out;
}

void WeightAverage::load_state_dict(const StateDict& tensors, const std::string& prefix,
                                    const std::string& source) {
  auto find = [&](const std::string& name) -> const Tensor& {
    for (const NamedTensor& t : tensors) {
      if (t.name == prefix + name) return t.tensor;
    }
    throw InputError(fmt::format("{}: the --ema state has no {}{}", source, prefix, name));
  };
  for (NamedTensor& t : weights_) {
    const Tensor& saved = find(t.name);
    if (saved.shape() != t.tensor.shape() || saved.dtype() != t.tensor.dtype()) {
      throw InputError(fmt::format("{}: {}{}: expected {}, the state has {}", source, prefix, t.name,
                                   shape_str(t.tensor.shape()), shape_str(saved.shape())));
    }
    t.tensor.copy_from(saved);
  }
  const Tensor& n = find("n_averaged");
  if (n.dtype() != DType::i64 || n.numel() != 1)
    throw InputError(fmt::format("{}: {}n_averaged must be one i64", source, prefix));
  n_averaged_ = *static_cast<const int64_t*>(n.data());
}

double ema_decay_per_update(double decay, int64_t batch_size, int64_t ema_steps, int64_t epochs) {
  const double adjust = double(batch_size) * double(ema_steps) / double(epochs);
  const double alpha = std::min(1.0, (1.0 - decay) * adjust);
  return 1.0 - alpha;
}

StateDict swap_model_weights(Module& model, const StateDict& weights) {
  StateDict current = model.state_dict();
  if (current.size() != weights.size()) throw InternalError("swap_model_weights: another model's weights");
  StateDict before;
  for (size_t i = 0; i < current.size(); ++i) {
    before.push_back({current[i].name, current[i].tensor.clone()});
    current[i].tensor.copy_from(weights[i].tensor);
  }
  return before;
}

}  // namespace resnet
