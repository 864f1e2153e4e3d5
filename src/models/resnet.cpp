// The ResNet builder: torchvision's ResNet.__init__ and _make_layer, driven by a ResNetConfig.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>

#include "dnnl/ops.h"
#include "models/blocks.h"
#include "models/init.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/two_part_backward.h"
#include "resnet/error.h"
#include "resnet/model.h"

namespace resnet {
namespace {

void validate(const ResNetConfig& c) {
  if (c.layers.empty() || c.layers.size() != c.widths.size() || c.layers.size() > 4) {
    throw InputError(
        fmt::format("{}: expected 1 to 4 stages with one width each, got {} stages and {} widths", c.name,
                    c.layers.size(), c.widths.size()));
  }
  for (size_t i = 0; i < c.layers.size(); ++i) {
    if (c.layers[i] < 1 || c.widths[i] < 1) {
      throw InputError(fmt::format("{}: stage {} needs at least one block and one channel", c.name, i + 1));
    }
  }
  if (c.in_channels < 1)
    throw InputError(fmt::format("{}: --in-channels must be >= 1, got {}", c.name, c.in_channels));
  if (c.classifier && c.num_classes < 1)
    throw InputError(fmt::format("{}: --num-classes must be >= 1, got {}", c.name, c.num_classes));
  if (c.groups < 1 || c.width_per_group < 1)
    throw InputError(fmt::format("{}: groups and width must be >= 1", c.name));
  if (c.shortcut == Shortcut::zero_pad && c.block != BlockKind::basic) {
    throw InputError(fmt::format("{}: the zero-padding shortcut is only defined for BasicBlock", c.name));
  }
}

// Visits every module of the tree (pre-order).
void visit(Module& m, const std::function<void(Module&)>& f) {
  f(m);
  for (Module* child : m.children()) visit(*child, f);
}

// Builds one stage (torchvision's _make_layer). `inplanes` and `dilation` carry across stages.
template <class Block>
void make_layer(Sequential& layer, const ResNetConfig& c, int64_t& inplanes, int64_t& dilation,
                int64_t planes, int blocks, int64_t stride, bool dilate, uint64_t& seed) {
  const int64_t previous_dilation = dilation;
  if (dilate) {
    dilation *= stride;
    stride = 1;
  }
  auto options = [&](int64_t block_stride, int64_t block_dilation) {
    return BlockOptions{.inplanes = inplanes,
                        .planes = planes,
                        .stride = block_stride,
                        .groups = c.groups,
                        .base_width = c.width_per_group,
                        .dilation = block_dilation,
                        .reshape_shortcut = block_stride != 1 || inplanes != planes * Block::kExpansion,
                        .shortcut = c.shortcut,
                        .dropout = c.dropout,
                        .seed = seed++};
  };
  layer.append<Block>(options(stride, previous_dilation));
  inplanes = planes * Block::kExpansion;
  for (int i = 1; i < blocks; ++i) layer.append<Block>(options(1, dilation));
}

}  // namespace

ResNet::ResNet(const ResNetConfig& config, uint64_t seed, Init init)
    : ResNet("", "ResNet", config, seed, init) {}

ResNet::ResNet(std::string path, std::string type_name, const ResNetConfig& config, uint64_t seed, Init init)
    : Module(std::move(path), std::move(type_name)), config_(config) {
  validate(config);
  const bool imagenet_stem = config.stem == Stem::imagenet;
  int64_t inplanes = config.stem_width;
  int64_t dilation = 1;
  uint64_t dropout_seed = seed ^ 0x9e3779b97f4a7c15ull;

  Conv2dOptions stem_conv{.in_channels = config.in_channels,
                          .out_channels = inplanes,
                          .window = imagenet_stem ? Window::square(7, 2, 3) : Window::square(3, 1, 1)};
  stem_conv_ = &add_child<Conv2d>("conv1", stem_conv);
  sequence_.push_back(stem_conv_);
  stem_bn_ = &add_child<BatchNorm2d>("bn1", inplanes);
  sequence_.push_back(stem_bn_);
  stem_relu_ = &add_child<ReLU>("relu");
  sequence_.push_back(stem_relu_);
  if (imagenet_stem) sequence_.push_back(&add_child<MaxPool2d>("maxpool", Window::square(3, 2, 1)));

  for (size_t stage = 0; stage < config.layers.size(); ++stage) {
    auto& layer = add_child<Sequential>(fmt::format("layer{}", stage + 1));
    const int64_t stride = stage == 0 ? 1 : 2;
    const bool dilate = stage > 0 && config.replace_stride_with_dilation[stage - 1];
    const int64_t planes = config.widths[stage];
    if (config.block == BlockKind::basic) {
      make_layer<BasicBlock>(layer, config, inplanes, dilation, planes, config.layers[stage], stride, dilate,
                             dropout_seed);
    } else {
      make_layer<Bottleneck>(layer, config, inplanes, dilation, planes, config.layers[stage], stride, dilate,
                             dropout_seed);
    }
    sequence_.push_back(&layer);
  }
  if (config.classifier) {
    sequence_.push_back(&add_child<AdaptiveAvgPool2d>("avgpool", 1, 1));
    add_child<Linear>("fc", inplanes, config.num_classes);
  }

  if (init == Init::none) return;
  // Initialisation in module order, as torchvision's loop over self.modules().
  Rng rng(seed);
  visit(*this, [&](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) init_kaiming_normal_fan_out(*conv, rng);
    if (auto* linear = dynamic_cast<Linear*>(&m)) init_linear_default(*linear, rng);
  });
  if (config.zero_init_residual) {
    visit(*this, [](Module& m) {
      if (auto* block = dynamic_cast<ResidualBlock*>(&m)) block->last_bn().weight().value.fill(0.0f);
    });
  }
}

ResNet::~ResNet() = default;

// x [N,H,W,in_channels] -> logits [N,num_classes]
void ResNet::set_compute_dtype(DType dtype) {
  if (dtype != DType::f32 && dtype != DType::bf16) {
    throw InputError(
        fmt::format("{}: compute dtype must be f32 or bf16, got {}", config_.name, dtype_name(dtype)));
  }
  compute_dtype_ = dtype;
}

void ResNet::freeze(const std::string& part) {
  const std::vector<std::string> stages = stage_names();
  if (part.empty()) {
    frozen_ = 0;
  } else if (part == "backbone") {
    frozen_ = sequence_.size();
  } else if (std::find(stages.begin(), stages.end(), part) != stages.end()) {
    frozen_ = stage_end(part) + 1;
  } else {
    throw InputError(
        fmt::format("--freeze {}: expected stem, layer1..layer{} or backbone", part, config_.layers.size()));
  }
}

void ResNet::set_input_gradient(bool computes) {
  stem_conv_->set_input_gradient(computes);
}

Tensor ResNet::forward(const Tensor& x) {
  if (!config_.classifier) return std::move(forward_features(x, {stage_names().back()})[0]);
  return run_forward(x, sequence_.size(), nullptr);
}

void ResNet::check_input(const Tensor& x) const {
  if (x.rank() != 4 || x.dim(3) != config_.in_channels) {
    throw InputError(fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", config_.name,
                                 config_.in_channels, shape_str(x.shape())));
  }
}

std::vector<Tensor> ResNet::forward_features(const Tensor& x, const std::vector<std::string>& stages) {
  check_input(x);
  if (stages.empty()) throw InputError(fmt::format("{}: no feature stage asked for", config_.name));
  feature_ends_.clear();
  for (const std::string& stage : stages) feature_ends_.push_back(stage_end(stage));
  features_ran_ = *std::max_element(feature_ends_.begin(), feature_ends_.end()) + 1;
  std::vector<Tensor> features(stages.size());
  Tensor y = ops::convert(x, compute_dtype_);
  for (size_t i = 0; i < features_ran_; ++i) {
    y = forward_step(i, y);
    for (size_t f = 0; f < stages.size(); ++f) {
      if (feature_ends_[f] == i) features[f] = y;
    }
  }
  return features;
}

Tensor ResNet::backward_features(const std::vector<Tensor>& dfeatures) {
  if (dfeatures.size() != feature_ends_.size()) {
    throw InternalError(fmt::format("{}: backward_features got {} gradients for {} features", config_.name,
                                    dfeatures.size(), feature_ends_.size()));
  }
  // dL/d(output of sequence_[i]) = d + pending; d undefined while no feature above has a gradient.
  Tensor d, pending;
  for (size_t i = features_ran_; i-- > frozen_;) {
    for (size_t f = 0; f < dfeatures.size(); ++f) {
      if (feature_ends_[f] != i || !dfeatures[f].defined()) continue;
      Tensor g = ops::convert(dfeatures[f], compute_dtype_);
      d = d.defined() ? ops::add(d, g) : g;  // (a new tensor: never written over the caller's)
    }
    if (d.defined()) backward_step(i, d, pending);
  }
  if (frozen_ > 0 || !d.defined()) return Tensor();
  sum_parts(d, pending);
  return ops::convert(d, DType::f32);
}

std::vector<FeatureInfo> ResNet::feature_info() const {
  const int64_t expansion = config_.block == BlockKind::bottleneck ? Bottleneck::kExpansion : 1;
  const bool imagenet_stem = config_.stem == Stem::imagenet;
  int64_t reduction = imagenet_stem ? 2 : 1;
  std::vector<FeatureInfo> info = {{"stem", config_.stem_width, reduction}};
  for (size_t stage = 0; stage < config_.layers.size(); ++stage) {
    if (stage == 0 && imagenet_stem) reduction *= 2;  // the max-pool
    if (stage > 0 && !config_.replace_stride_with_dilation[stage - 1]) reduction *= 2;
    info.push_back({fmt::format("layer{}", stage + 1), config_.widths[stage] * expansion, reduction});
  }
  return info;
}

Tensor ResNet::forward(const Tensor& x, const std::string& stage, Tensor& stage_output) {
  return run_forward(x, stage_end(stage), &stage_output);
}

Tensor ResNet::run_forward(const Tensor& x, size_t keep_after, Tensor* stage_output) {
  check_input(x);
  if (!config_.classifier) throw InputError(fmt::format("{}: a backbone without a classifier", config_.name));
  Tensor y = ops::convert(x, compute_dtype_);
  for (size_t i = 0; i < sequence_.size(); ++i) {
    y = forward_step(i, y);
    if (i == keep_after) *stage_output = y;
  }
  pooled_shape_ = y.shape();  // [N,1,1,C]
  // The classifier and the logits in f32: [N,C] is tiny, and the loss wants f32.
  Tensor flat = ops::convert(y, DType::f32).reshaped({y.dim(0), y.dim(1) * y.dim(2) * y.dim(3)});  // [N,C]
  return children().back()->forward(flat);
}

Tensor ResNet::backward(const Tensor& dlogits) {
  if (!config_.classifier) return backward_features({dlogits});
  Tensor d = children().back()->backward(dlogits);
  if (frozen_ == sequence_.size()) return Tensor();  // the backbone is frozen: the classifier alone learns
  d = ops::convert(d.reshaped(pooled_shape_), compute_dtype_);
  Tensor pending;
  for (size_t i = sequence_.size(); i-- > frozen_;) backward_step(i, d, pending);
  if (frozen_ > 0 || !d.defined()) return Tensor();
  sum_parts(d, pending);
  return ops::convert(d, DType::f32);
}

Tensor ResNet::backward_to(const std::string& stage, const Tensor& dlogits) {
  const size_t end = stage_end(stage);
  Tensor d = children().back()->backward(dlogits);
  d = ops::convert(d.reshaped(pooled_shape_), compute_dtype_);
  Tensor pending;
  for (size_t i = sequence_.size() - 1; i > end; --i) backward_step(i, d, pending);
  sum_parts(d, pending);
  return d;
}

Tensor ResNet::forward_step(size_t& i, const Tensor& y) {
  if (i < frozen_ && sequence_[i]->is_training()) sequence_[i]->set_training(false);
  // The stem's relu comes right after bn1 in sequence_ (the constructor pushes them one after the other).
  const bool stem_bn_relu = sequence_[i] == stem_bn_ && stem_bn_->fuses_relu() && stem_relu_->is_training();
  if (!stem_bn_relu) return sequence_[i]->forward(y);
  ++i;
  return stem_bn_->forward_relu(y);
}

void ResNet::backward_step(size_t i, Tensor& a, Tensor& b) {
  if (sequence_[i] == stem_relu_ && stem_bn_->holds_relu_mask())
    return;  // bn1's backward takes this gradient
  resnet::backward_step(*sequence_[i], a, b);
}

std::vector<std::string> ResNet::stage_names() const {
  std::vector<std::string> names = {"stem"};
  for (size_t stage = 0; stage < config_.layers.size(); ++stage)
    names.push_back(fmt::format("layer{}", stage + 1));
  return names;
}

// A layer is one module of sequence_; the stem ends with its ReLU (the max-pool opens layer1, as smp's
// encoder).
size_t ResNet::stage_end(const std::string& stage) const {
  const std::vector<std::string> names = stage_names();
  if (std::find(names.begin(), names.end(), stage) == names.end()) {
    throw InputError(
        fmt::format("{}: no stage '{}' (stages: {})", config_.name, stage, fmt::join(names, ", ")));
  }
  const std::string last_module = stage == "stem" ? "relu" : stage;
  size_t i = 0;
  while (sequence_[i]->local_name() != last_module) ++i;
  return i;
}

}  // namespace resnet
