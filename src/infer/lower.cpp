#include "infer/lower.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "infer/fold.h"
#include "models/blocks.h"
#include "models/unet_decoder.h"
#include "models/zero_pad_shortcut.h"
#include "nn/identity.h"
#include "nn/linear.h"
#include "nn/module_list.h"
#include "nn/pooling.h"
#include "resnet/error.h"
#include "resnet/unet.h"

namespace resnet::infer {
namespace {

[[noreturn]] void unsupported(const Module& m, const std::string& why) {
  throw InputError(fmt::format("{} ({}): {}", m.path().empty() ? "model" : m.path(), m.type_name(), why));
}

class Lowering {
 public:
  explicit Lowering(Program& program) : p_(program) {}

  // Value v is handed out as a named output: no later step may write into it.
  void keep(int v) { kept_.insert(v); }

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
      } else if (dynamic_cast<Identity*>(&m) != nullptr || dynamic_cast<IdentityWrapper*>(&m) != nullptr) {
        continue;  // the identity: x as it is
      } else if (dynamic_cast<ReLU*>(&m) != nullptr) {
        unsupported(m, "not supported by the inference plan (a ReLU must follow a convolution)");
      } else if (dynamic_cast<Dropout*>(&m) == nullptr) {
        unsupported(m, "not supported by the inference plan");
      }
    }
    return x;
  }

  // The values of a ResNet's `stages` (checked by check_stages), in the order asked, each kept: the
  // top-level modules in groups that each end a stage, lowered up to the deepest stage asked.
  std::vector<int> stage_values(ResNet& model, const std::vector<std::string>& stages, int x);

  // smp's UnetDecoder over value ids (walk_unet_decoder, models/unet_decoder.h): features [stem, ...,
  // deepest] -> the last block's output.
  int unet_decoder(UnetDecoder& decoder, const std::vector<int>& features) {
    if (Module* child = decoder.unknown_child())
      unsupported(*child, fmt::format("a child of {} the plan does not know", decoder.path()));
    return walk_unet_decoder(decoder, features, -1, [this](UnetDecoderBlock& block, int x, int skip) {
      return decoder_block(block, x, skip);
    });
  }

  // A decoder block from its structure: x2 nearest upsample of x, concat with `skip` (-1: none) after its
  // channels, then each conv-BN-ReLU stage with BN folded and the ReLU fused.
  int decoder_block(UnetDecoderBlock& block, int x, int skip) {
    const DecoderBlockStructure& s = block.structure();
    if (Module* part = block.undescribed_part()) {
      unsupported(*part, fmt::format("a part of {} ({}) that its block structure does not describe",
                                     block.path(), block.type_name()));
    }
    if ((skip >= 0) != (s.skip_channels > 0)) {
      throw InternalError(fmt::format("{}: skip value {} for a block of {} skip channels", block.path(), skip,
                                      s.skip_channels));
    }
    int y = add({.kind = StepKind::upsample_nearest,
                 .name = block.path() + ".upsample",
                 .src = x,
                 .dst = new_value()});
    if (skip >= 0) {
      y = add({.kind = StepKind::concat,
               .name = block.path() + ".concat",
               .src = y,
               .src2 = skip,
               .dst = new_value()});
    }
    for (const BranchStage& stage : s.stages) y = conv_step(*stage.conv, stage.bn, y, stage.relu != nullptr);
    return y;
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
           .window = conv.options().window};
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
                .window = z.window(),
                .weight = std::move(weight),
                .bias = Tensor::zeros({z.out_channels()})});
  }

  // Value x [N,H,W,channels] into a new value, as a 1x1 conv with the identity matrix for weight (exact: each
  // output is one input times 1 plus zeros). For a residual join whose shortcut is a kept output.
  int exact_copy(const Module& block, int64_t channels, int x) {
    Tensor weight = Tensor::zeros({channels, channels, 1, 1});
    for (int64_t c = 0; c < channels; ++c) weight.f32()[c * channels + c] = 1;
    return add({.kind = StepKind::conv,
                .name = block.path() + ".shortcut_copy",
                .src = x,
                .dst = new_value(),
                .weight = std::move(weight),
                .bias = Tensor::zeros({channels})});
  }

  // A block from its structure: out = relu(branch(x) + shortcut(x)). The shortcut is computed first and the
  // branch's last conv adds into it, then applies the output ReLU (the sum post-op, then the ReLU); dropout
  // is the identity in eval mode.
  int residual_block(ResidualBlock& block, int x) {
    const BlockStructure& s = block.structure();
    for (Module* child : block.children()) {
      if (!s.describes(*child)) {
        unsupported(*child, fmt::format("a child of {} ({}) that its block structure does not describe",
                                        block.path(), block.type_name()));
      }
    }
    if (s.branch.empty()) unsupported(block, "a residual block without convolutions");
    if (s.branch.back().relu) unsupported(block, "a ReLU before the residual join is not planned");
    int shortcut = shortcut_value(s, x);
    if (shortcut >= 0 && kept_.contains(shortcut))
      shortcut = exact_copy(block, s.branch.back().conv->options().out_channels, x);
    int y = x;
    for (size_t i = 0; i + 1 < s.branch.size(); ++i) {
      const BranchStage& stage = s.branch[i];
      y = conv_step(*stage.conv, stage.bn, y, stage.relu != nullptr);
    }
    const BranchStage& last = s.branch.back();
    return conv_step(*last.conv, last.bn, y, s.output_relu != nullptr, shortcut);
  }

  // The shortcut's value: the block input, the downsample Sequential (conv + BN), or the zero-padding conv;
  // -1 (no join: the last conv writes a new value) for a plain block.
  int shortcut_value(const BlockStructure& s, int x) {
    switch (s.shortcut) {
      case ShortcutKind::none:
        return -1;
      case ShortcutKind::identity:
        return x;
      case ShortcutKind::projection:
        return sequence({s.downsample}, x);
      case ShortcutKind::zero_pad:
        return zero_pad_shortcut(*s.zero_pad, x);
    }
    return x;
  }

  Program& p_;
  std::set<int> kept_;
};

// The top-level module each stage ends with: the stem with its ReLU (before the max-pool), layerK with
// itself.
std::string stage_last_module(const std::string& stage) {
  return stage == "stem" ? "relu" : stage;
}

// stages must be known (ResNet::stage_names) and asked once each.
void check_stages(const ResNet& model, const std::vector<std::string>& stages) {
  const std::vector<std::string> names = model.stage_names();
  if (stages.empty()) throw InputError(fmt::format("{}: no feature stage asked for", model.config().name));
  for (size_t i = 0; i < stages.size(); ++i) {
    if (std::find(names.begin(), names.end(), stages[i]) == names.end()) {
      throw InputError(fmt::format("{}: no stage '{}' (stages: {})", model.config().name, stages[i],
                                   fmt::join(names, ", ")));
    }
    if (std::find(stages.begin(), stages.begin() + static_cast<std::ptrdiff_t>(i), stages[i]) !=
        stages.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw InputError(fmt::format("{}: stage '{}' asked for twice", model.config().name, stages[i]));
    }
  }
}

std::vector<int> Lowering::stage_values(ResNet& model, const std::vector<std::string>& stages, int x) {
  const std::vector<std::string> names = model.stage_names();
  size_t deepest = 0;
  for (const std::string& stage : stages) {
    deepest =
        std::max(deepest, static_cast<size_t>(std::find(names.begin(), names.end(), stage) - names.begin()));
  }
  std::vector<int> values(stages.size(), -1);
  // Each group is lowered on its own, so that the value after it is the stage's output.
  // Children's paths start with the model's own (a U-Net's encoder: "encoder.layer1").
  const std::string prefix = model.path().empty() ? "" : model.path() + ".";
  std::vector<Module*> group;
  size_t stage = 0;
  for (Module* child : model.children()) {
    group.push_back(child);
    if (child->path() != prefix + stage_last_module(names[stage])) continue;
    x = sequence(group, x);
    group.clear();
    for (size_t i = 0; i < stages.size(); ++i) {
      if (stages[i] != names[stage]) continue;
      values[i] = x;
      keep(x);
    }
    if (stage++ == deepest) break;
  }
  if (stage <= deepest)
    throw InternalError(fmt::format("{}: stage {} not found", model.config().name, names[stage]));
  return values;
}

}  // namespace

Program lower_module(Module& module, int64_t in_channels) {
  Program program;
  program.in_channels = in_channels;
  program.output = Lowering(program).sequence({&module}, program.input);
  return program;
}

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

Program lower_resnet_features(ResNet& model, const std::vector<std::string>& stages) {
  check_stages(model, stages);
  Program program;
  program.in_channels = model.config().in_channels;
  const std::vector<int> values = Lowering(program).stage_values(model, stages, program.input);
  for (size_t i = 0; i < stages.size(); ++i) program.outputs.push_back({stages[i], values[i]});
  return program;
}

Program lower_unet(UNet& model) {
  const UNetConfig& config = model.config();
  Program program;
  program.in_channels = config.encoder.in_channels;
  program.size_multiple = int64_t{1} << config.encoder_depth;
  Lowering lowering(program);
  // The encoder's features the decoder takes: "stem", "layer1", ..., one per level of the depth.
  const std::vector<std::string> names = model.encoder().stage_names();
  const std::vector<std::string> stages(names.begin(), names.begin() + config.encoder_depth);
  check_stages(model.encoder(), stages);
  const std::vector<int> features = lowering.stage_values(model.encoder(), stages, program.input);
  int x = lowering.unet_decoder(model.decoder(), features);
  x = lowering.sequence({&model.segmentation_head()}, x);
  program.outputs = {{"logits", x}};
  program.pixel_logits = true;
  program.num_classes = config.classes;
  return program;
}

}  // namespace resnet::infer
