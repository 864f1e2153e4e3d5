#include "infer/lower.h"

#include <fmt/format.h>

#include "infer/fold.h"
#include "models/blocks.h"
#include "models/zero_pad_shortcut.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "resnet/error.h"

namespace resnet::infer {
namespace {

Window conv_window(const Conv2dOptions& o) {
  return o.window;
}

[[noreturn]] void unsupported(const Module& m, const std::string& why) {
  throw InputError(fmt::format("{} ({}): {}", m.path().empty() ? "model" : m.path(), m.type_name(), why));
}

class Lowering {
 public:
  explicit Lowering(Program& program) : p_(program) {}

  // Modules run one after the other from value x; returns the value they produce.
  int sequence(const std::vector<Module*>& modules, int x) {
    for (size_t i = 0; i < modules.size(); ++i) {
      Module& m = *modules[i];
      if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
        auto* bn = i + 1 < modules.size() ? dynamic_cast<BatchNorm2d*>(modules[i + 1]) : nullptr;
        if (bn) ++i;
        const bool relu = i + 1 < modules.size() && dynamic_cast<ReLU*>(modules[i + 1]) != nullptr;
        if (relu) ++i;
        x = conv_step(*conv, bn, x, relu);
      } else if (auto* pool = dynamic_cast<MaxPool2d*>(&m)) {
        Step s{.kind = StepKind::max_pool, .name = m.path(), .src = x, .dst = new_value()};
        s.window = pool->window();
        x = add(std::move(s));
      } else if (auto* avg = dynamic_cast<AdaptiveAvgPool2d*>(&m)) {
        if (avg->out_h() != 1 || avg->out_w() != 1)
          unsupported(m, "only a global (1x1) average pool is planned");
        x = add({.kind = StepKind::avg_pool, .name = m.path(), .src = x, .dst = new_value()});
      } else if (auto* fc = dynamic_cast<Linear*>(&m)) {
        x = add({.kind = StepKind::linear,
                 .name = m.path(),
                 .src = x,
                 .dst = new_value(),
                 .weight = fc->weight().value.clone(),
                 .bias = fc->bias() ? fc->bias()->value.clone() : Tensor()});
      } else if (auto* block = dynamic_cast<ResidualBlock*>(&m)) {
        x = residual_block(*block, x);
      } else if (dynamic_cast<Sequential*>(&m) != nullptr) {
        x = sequence(m.children(), x);
      } else if (dynamic_cast<Dropout*>(&m) == nullptr) {
        unsupported(m, "not supported by the inference plan (a ReLU must follow a convolution)");
      }
    }
    return x;
  }

 private:
  int new_value() { return p_.num_values++; }
  int add(Step step) {
    const int dst = step.dst;
    p_.steps.push_back(std::move(step));
    return dst;
  }

  // conv (+ folded bn) (+ relu) from x into a new value, or accumulated into `into`.
  int conv_step(Conv2d& conv, BatchNorm2d* bn, int x, bool relu, int into = -1) {
    Step s{.kind = StepKind::conv,
           .name = conv.path(),
           .src = x,
           .dst = into >= 0 ? into : new_value(),
           .accumulate = into >= 0,
           .relu = relu,
           .window = conv_window(conv.options())};
    const Tensor bias = conv.bias() ? conv.bias()->value : Tensor();
    if (bn) {
      FoldedConv folded = fold_batchnorm(
          conv.weight().value, bias,
          {bn->weight().value, bn->bias().value, bn->running_mean(), bn->running_var(), bn->eps()});
      s.weight = std::move(folded.weight);
      s.bias = std::move(folded.bias);
    } else {
      s.weight = conv.weight().value.clone();
      s.bias = bias.defined() ? bias.clone() : Tensor::zeros({conv.options().out_channels});
    }
    return add(std::move(s));
  }

  // The parameter-free shortcut as a 1x1 strided convolution whose weight copies input channel c to output
  // channel c + pad_before: exact, since every output is one input times 1 plus zeros.
  int zero_pad_shortcut(const ZeroPadShortcut& z, int x) {
    Tensor weight({z.out_channels(), z.in_channels(), 1, 1});
    for (int64_t c = 0; c < z.in_channels(); ++c)
      weight.f32()[(c + z.pad_before()) * z.in_channels() + c] = 1;
    return add({.kind = StepKind::conv,
                .name = z.path(),
                .src = x,
                .dst = new_value(),
                .window = {.stride_h = z.stride(), .stride_w = z.stride()},
                .weight = std::move(weight),
                .bias = Tensor::zeros({z.out_channels()})});
  }

  // out = relu(branch(x) + shortcut(x)); the shortcut is computed first and the branch's last conv adds into
  // it.
  int residual_block(ResidualBlock& block, int x) {
    std::vector<std::pair<Conv2d*, BatchNorm2d*>> branch;
    int shortcut = x;
    for (Module* child : block.children()) {
      if (auto* conv = dynamic_cast<Conv2d*>(child)) {
        branch.emplace_back(conv, nullptr);
      } else if (auto* bn = dynamic_cast<BatchNorm2d*>(child)) {
        if (branch.empty() || branch.back().second != nullptr)
          unsupported(*child, "a batch norm without a conv");
        branch.back().second = bn;
      } else if (auto* z = dynamic_cast<ZeroPadShortcut*>(child)) {
        shortcut = zero_pad_shortcut(*z, x);
      } else if (child->local_name() == "downsample") {
        shortcut = sequence(child->children(), x);
      } else if (dynamic_cast<ReLU*>(child) == nullptr && dynamic_cast<Dropout*>(child) == nullptr) {
        unsupported(*child, "not expected in a residual block");
      }
    }
    if (branch.empty()) unsupported(block, "a residual block without convolutions");
    int y = x;
    for (size_t i = 0; i + 1 < branch.size(); ++i) y = conv_step(*branch[i].first, branch[i].second, y, true);
    return conv_step(*branch.back().first, branch.back().second, y, true, shortcut);
  }

  Program& p_;
};

}  // namespace

Program lower_resnet(ResNet& model) {
  Program program;
  program.in_channels = model.config().in_channels;
  Lowering lowering(program);
  program.output = lowering.sequence(model.children(), program.input);
  if (program.steps.empty() || program.steps.back().kind != StepKind::linear) {
    unsupported(model, "the inference plan expects the model to end with a Linear classifier");
  }
  program.num_classes = program.steps.back().weight.dim(0);
  return program;
}

}  // namespace resnet::infer
