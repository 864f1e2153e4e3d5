// Module: a node of the model tree, built with its path so that parameter and buffer names are torchvision's
// state_dict keys by construction ("layer2.0.downsample.1.weight"); no mapping table exists anywhere.
//
// Every layer has an explicit forward and backward. forward() keeps what backward() needs (in train mode);
// backward() takes dL/d(output) and returns dL/d(input), accumulating parameter gradients into
// Parameter::grad. Activations are NHWC.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resnet/tensor.h"

namespace resnet {

struct Parameter {
  std::string name;            // full state_dict key
  Tensor value;                // f32
  Tensor grad;                 // f32, same shape; undefined until the first backward
  bool is_bn_or_bias = false;  // optimizers may exclude these from weight decay
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};
// Ordered as torchvision's model.state_dict(): module registration order, a module's parameters then its
// buffers.
using StateDict = std::vector<NamedTensor>;

class Module {
 public:
  Module(std::string path, std::string type_name);
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // x: [N, H, W, C] (or [N, F] after flatten). Returns the output.
  virtual Tensor forward(const Tensor& x) = 0;
  // dy: dL/d(output of the last forward). Returns dL/d(input). Default: throws InternalError.
  virtual Tensor backward(const Tensor& dy);

  const std::string& path() const { return path_; }            // "layer1.0.conv1"; "" for the root
  std::string local_name() const;                              // "conv1"
  const std::string& type_name() const { return type_name_; }  // "Conv2d", as PyTorch prints it
  // PyTorch's extra_repr(): "3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False".
  virtual std::string extra_repr() const { return ""; }
  // Multiply-accumulates of one forward for these input/output shapes (conv and linear; 0 elsewhere).
  virtual int64_t macs(const Shape& /*in*/, const Shape& /*out*/) const { return 0; }

  const std::vector<Module*>& children() const { return children_; }
  void set_training(bool training);  // recursive, like module.train(mode)
  bool is_training() const { return training_; }
  // Eval with gradients (recursive): in eval mode, layers still behave as in eval (batch norm normalises with
  // its running statistics and leaves them alone, dropout passes through) but keep what backward needs, so
  // that gradients flow as through torch's model.eval() (Grad-CAM, saliency). No effect in train mode.
  void set_eval_backward(bool enabled);
  // What a layer's forward asks before keeping its backward's inputs: train mode, or eval with gradients.
  bool keeps_for_backward() const { return training_ || eval_backward_; }

  // Parameters and buffers of this module and its descendants, in state_dict order.
  std::vector<Parameter*> parameters();
  StateDict state_dict();  // tensors share storage with the model
  int64_t parameter_count();
  void zero_grad();

  // Observer called after every leaf module's forward (used by `summary`); empty when not tracing.
  using ForwardObserver = std::function<void(const Module&, const Tensor& in, const Tensor& out)>;
  static void set_forward_observer(ForwardObserver observer);
  // Observer called by each layer with parameters when its backward has added its parameters' gradients,
  // which are then final for this backward (each layer runs once per forward). The data-parallel trainer
  // starts a gradient bucket's all-reduce from it while backward goes on; empty otherwise.
  using GradientsObserver = std::function<void(Module&)>;
  static void set_gradients_observer(GradientsObserver observer);
  // Whether an observer is set: layers that fuse two modules' work into one pass (batch norm + ReLU in
  // training) do so only when nobody watches each module's output.
  static bool forward_observed();

 protected:
  // Children, parameters and buffers are registered in torchvision's __init__ order.
  template <class M, class... Args>
  M& add_child(const std::string& local_name, Args&&... args) {
    auto child = std::make_unique<M>(child_path(local_name), std::forward<Args>(args)...);
    M& ref = *child;
    owned_children_.push_back(std::move(child));
    children_.push_back(&ref);
    return ref;
  }
  Parameter& add_parameter(const std::string& local_name, Tensor value, bool is_bn_or_bias);
  Tensor& add_buffer(const std::string& local_name, Tensor value);
  std::string child_path(const std::string& local_name) const;
  // Leaf modules call this at the end of forward().
  void notify_forward(const Tensor& in, const Tensor& out) const;
  // Layers with parameters call this at the end of backward().
  void notify_gradients_ready();

 private:
  std::string path_;
  std::string type_name_;
  bool training_ = true;
  bool eval_backward_ = false;
  std::vector<std::unique_ptr<Module>> owned_children_;
  std::vector<Module*> children_;
  std::vector<std::unique_ptr<Parameter>> params_;
  std::vector<std::unique_ptr<NamedTensor>> buffers_;
};

// PyTorch's print(model) format.
std::string module_repr(const Module& module);

}  // namespace resnet
