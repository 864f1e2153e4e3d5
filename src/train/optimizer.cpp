// Optimizer: what SGD and AdamW share — the parameter list, the lr, and the per-parameter state tensors
// ("slots") with their export to and import from a StateDict for checkpoints.
#include <fmt/format.h>

#include <unordered_map>

#include "resnet/error.h"
#include "resnet/optim.h"

namespace resnet {

namespace {

constexpr const char* kStepKey = "step";
constexpr const char* kParamStepSlot = "step";

Tensor i64_scalar(int64_t value) {
  Tensor t({}, DType::i64);
  *t.data_as<int64_t>() = value;
  return t;
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter*> params, double lr, std::vector<std::string> slot_names,
                     bool per_param_steps)
    : params_(std::move(params)),
      lr_(0.0),
      lr_factors_(params_.size(), 1.0),
      slot_names_(std::move(slot_names)),
      per_param_steps_(per_param_steps),
      slots_(params_.size(), std::vector<Tensor>(slot_names_.size())),
      param_steps_(params_.size(), 0) {
  set_lr(lr);
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i] == nullptr) throw InternalError(fmt::format("optimizer: parameter {} is null", i));
    if (params_[i]->value.dtype() != DType::f32) {
      throw InputError(fmt::format("optimizer: {} is {}, optimizers update f32 parameters", params_[i]->name,
                                   dtype_name(params_[i]->value.dtype())));
    }
    if (!seen.emplace(params_[i]->name, i).second) {
      throw InputError(fmt::format("optimizer: two parameters are named '{}'; state names must be unique",
                                   params_[i]->name));
    }
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::set_lr_factor(size_t i, double factor) {
  if (!(factor >= 0.0)) throw InputError(fmt::format("optimizer: invalid lr factor {}", factor));
  lr_factors_.at(i) = factor;
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0)) throw InputError(fmt::format("optimizer: invalid learning rate {}", lr));
  lr_ = lr;
}

double Optimizer::weight_decay_for(const Parameter& p, double weight_decay, bool decay_bn_and_bias) const {
  return (p.is_bn_or_bias && !decay_bn_and_bias) ? 0.0 : weight_decay;
}

int64_t Optimizer::begin_update(size_t i) {
  const Parameter& p = *params_[i];
  if (p.grad.shape() != p.value.shape() || p.grad.dtype() != DType::f32) {
    throw InternalError(fmt::format("optimizer: {} has grad {} {}, expected f32 {}", p.name,
                                    dtype_name(p.grad.dtype()), shape_str(p.grad.shape()),
                                    shape_str(p.value.shape())));
  }
  if (!has_state(i)) {
    for (Tensor& slot : slots_[i]) slot = Tensor::zeros(p.value.shape());
  }
  return ++param_steps_[i];
}

StateDict Optimizer::state_dict() const {
  StateDict state;
  state.push_back({kStepKey, i64_scalar(steps_)});
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!has_state(i)) continue;
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      state.push_back({params_[i]->name + "." + slot_names_[s], slots_[i][s].clone()});
    }
    if (per_param_steps_)
      state.push_back({params_[i]->name + "." + kParamStepSlot, i64_scalar(param_steps_[i])});
  }
  return state;
}

void Optimizer::load_state_dict(const StateDict& state, const std::string& source) {
  std::unordered_map<std::string, size_t> param_index;
  for (size_t i = 0; i < params_.size(); ++i) param_index.emplace(params_[i]->name, i);

  int64_t steps = 0;
  std::vector<std::vector<Tensor>> slots(params_.size(), std::vector<Tensor>(slot_names_.size()));
  std::vector<int64_t> param_steps(params_.size(), 0);
  std::vector<int> entries(params_.size(), 0);  // entries seen per parameter
  const auto read_i64 = [&](const NamedTensor& entry) {
    if (entry.tensor.dtype() != DType::i64 || entry.tensor.numel() != 1) {
      throw InputError(fmt::format("{}: {} must be one i64, found {} {}", source, entry.name,
                                   dtype_name(entry.tensor.dtype()), shape_str(entry.tensor.shape())));
    }
    return *entry.tensor.data_as<int64_t>();
  };

  for (const NamedTensor& entry : state) {
    if (entry.name == kStepKey) {
      steps = read_i64(entry);
      continue;
    }
    const size_t dot = entry.name.rfind('.');
    const auto param =
        dot == std::string::npos ? param_index.end() : param_index.find(entry.name.substr(0, dot));
    if (param == param_index.end()) {
      throw InputError(
          fmt::format("{}: unexpected optimizer state '{}' (no such parameter)", source, entry.name));
    }
    const size_t i = param->second;
    const std::string slot_name = entry.name.substr(dot + 1);
    if (per_param_steps_ && slot_name == kParamStepSlot) {
      if (param_steps[i] != 0) throw InputError(fmt::format("{}: {} appears twice", source, entry.name));
      param_steps[i] = read_i64(entry);
      if (param_steps[i] <= 0) throw InputError(fmt::format("{}: {} must be positive", source, entry.name));
      ++entries[i];
      continue;
    }
    size_t s = 0;
    while (s < slot_names_.size() && slot_names_[s] != slot_name) ++s;
    if (s == slot_names_.size()) {
      throw InputError(fmt::format("{}: unexpected optimizer state '{}' (this optimizer keeps no '{}')",
                                   source, entry.name, slot_name));
    }
    const Tensor& value = params_[i]->value;
    if (entry.tensor.dtype() != DType::f32 || entry.tensor.shape() != value.shape()) {
      throw InputError(fmt::format("{}: {} is {} {}, expected f32 {}", source, entry.name,
                                   dtype_name(entry.tensor.dtype()), shape_str(entry.tensor.shape()),
                                   shape_str(value.shape())));
    }
    if (slots[i][s].defined()) throw InputError(fmt::format("{}: {} appears twice", source, entry.name));
    slots[i][s] = entry.tensor.clone();
    ++entries[i];
  }

  const int complete = static_cast<int>(slot_names_.size()) + (per_param_steps_ ? 1 : 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (entries[i] != 0 && entries[i] != complete) {
      throw InputError(fmt::format("{}: optimizer state of {} is incomplete ({} of {} entries)", source,
                                   params_[i]->name, entries[i], complete));
    }
    // Without per-parameter counts, a parameter with state has been updated at least once.
    if (!per_param_steps_ && entries[i] != 0) param_steps[i] = 1;
  }
  steps_ = steps;
  slots_ = std::move(slots);
  param_steps_ = std::move(param_steps);
}

}  // namespace resnet
