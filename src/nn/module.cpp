#include "resnet/module.h"

#include <fmt/format.h>

#include "resnet/error.h"

namespace resnet {
namespace {

Module::ForwardObserver& forward_observer() {
  static Module::ForwardObserver observer;
  return observer;
}

Module::GradientsObserver& gradients_observer() {
  static Module::GradientsObserver observer;
  return observer;
}

}  // namespace

Module::Module(std::string path, std::string type_name)
    : path_(std::move(path)), type_name_(std::move(type_name)) {}

Module::~Module() = default;

Tensor Module::backward(const Tensor& /*dy*/) {
  throw InternalError(fmt::format("{} ({}) has no backward", path_.empty() ? "model" : path_, type_name_));
}

std::string Module::local_name() const {
  auto dot = path_.rfind('.');
  return dot == std::string::npos ? path_ : path_.substr(dot + 1);
}

std::string Module::child_path(const std::string& local_name) const {
  return path_.empty() ? local_name : path_ + "." + local_name;
}

void Module::set_training(bool training) {
  training_ = training;
  for (Module* child : children_) child->set_training(training);
}

void Module::set_eval_backward(bool enabled) {
  eval_backward_ = enabled;
  for (Module* child : children_) child->set_eval_backward(enabled);
}

Parameter& Module::add_parameter(const std::string& local_name, Tensor value, bool is_bn_or_bias) {
  auto p = std::make_unique<Parameter>();
  p->name = child_path(local_name);
  p->value = std::move(value);
  p->is_bn_or_bias = is_bn_or_bias;
  params_.push_back(std::move(p));
  return *params_.back();
}

Tensor& Module::add_buffer(const std::string& local_name, Tensor value) {
  buffers_.push_back(std::make_unique<NamedTensor>(NamedTensor{child_path(local_name), std::move(value)}));
  return buffers_.back()->tensor;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  for (auto& p : params_) out.push_back(p.get());
  for (Module* child : children_) {
    auto sub = child->parameters();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

StateDict Module::state_dict() {
  StateDict out;
  for (auto& p : params_) out.push_back({p->name, p->value});
  for (auto& b : buffers_) out.push_back(*b);
  for (Module* child : children_) {
    auto sub = child->state_dict();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) {
    if (p->grad.defined()) p->grad.fill(0.0f);
  }
}

void Module::set_forward_observer(ForwardObserver observer) {
  forward_observer() = std::move(observer);
}

bool Module::forward_observed() {
  return static_cast<bool>(forward_observer());
}

void Module::notify_forward(const Tensor& in, const Tensor& out) const {
  if (forward_observer()) forward_observer()(*this, in, out);
}

void Module::set_gradients_observer(GradientsObserver observer) {
  gradients_observer() = std::move(observer);
}

void Module::notify_gradients_ready() {
  if (gradients_observer()) gradients_observer()(*this);
}

namespace {

// PyTorch's _addindent: indent every line after the first by two spaces.
std::string indent_tail(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

}  // namespace

std::string module_repr(const Module& module) {
  std::string out = module.type_name() + "(";
  std::string extra = module.extra_repr();
  if (module.children().empty()) return out + extra + ")";
  if (!extra.empty()) out += "\n  " + extra;
  for (const Module* child : module.children()) {
    out += fmt::format("\n  ({}): {}", child->local_name(), indent_tail(module_repr(*child)));
  }
  return out + "\n)";
}

}  // namespace resnet
