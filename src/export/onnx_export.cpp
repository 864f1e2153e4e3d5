// export_onnx: walks the module tree as the inference plan's lowering does (src/infer/lower.cpp): each
// residual block from its BlockStructure, each U-Net decoder block from its DecoderBlockStructure, and a
// module the walk does not know is an InputError naming it. Instead of plan steps it emits ONNX nodes,
// unfolded by default so that every initializer is a state_dict tensor under its key.
#include "resnet/onnx_export.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <limits>

#include "export/onnx_graph.h"
#include "infer/fold.h"
#include "io/atomic_file.h"
#include "models/blocks.h"
#include "models/unet_decoder.h"
#include "models/zero_pad_shortcut.h"
#include "nn/identity.h"
#include "nn/linear.h"
#include "nn/module_list.h"
#include "nn/pooling.h"
#include "resnet/error.h"

namespace resnet {
namespace onnx_export {
namespace {

[[noreturn]] void unsupported(const Module& m, const std::string& why) {
  throw InputError(fmt::format("{} ({}): {}", m.path().empty() ? "model" : m.path(), m.type_name(), why));
}

// The window attributes Conv and MaxPool share: kernel_shape, strides, pads (begin and end alike, as PyTorch
// pads), dilations. Floor-mode output sizes, as PyTorch's.
void set_window(onnx::NodeProto& node, const Window& w) {
  set_ints(node, "kernel_shape", {w.kernel_h, w.kernel_w});
  set_ints(node, "strides", {w.stride_h, w.stride_w});
  set_ints(node, "pads", {w.pad_h, w.pad_w, w.pad_h, w.pad_w});
  set_ints(node, "dilations", {w.dilation_h, w.dilation_w});
}

class Exporter {
 public:
  Exporter(OnnxGraph& graph, bool fold_bn) : g_(graph), fold_bn_(fold_bn) {}

  // Modules run one after the other from value x (NCHW, or [N, F] after a flatten); returns their output.
  std::string sequence(const std::vector<Module*>& modules, std::string x) {
    for (size_t i = 0; i < modules.size(); ++i) {
      Module& m = *modules[i];
      if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
        auto* bn = i + 1 < modules.size() ? dynamic_cast<BatchNorm2d*>(modules[i + 1]) : nullptr;
        if (bn) ++i;
        x = conv_bn(*conv, bn, x);
      } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
        x = batch_norm(*bn, x);
      } else if (dynamic_cast<ReLU*>(&m) != nullptr) {
        x = relu(m, x);
      } else if (auto* pool = dynamic_cast<MaxPool2d*>(&m)) {
        onnx::NodeProto& node = g_.add_node("MaxPool", m.path(), {x});
        set_window(node, pool->window());
        x = OnnxGraph::output_of(node);
      } else if (auto* avg = dynamic_cast<AdaptiveAvgPool2d*>(&m)) {
        if (avg->out_h() != 1 || avg->out_w() != 1)
          unsupported(m, "only a global (1x1) average pool is exported");
        x = OnnxGraph::output_of(g_.add_node("GlobalAveragePool", m.path(), {x}));
      } else if (auto* fc = dynamic_cast<Linear*>(&m)) {
        x = linear(*fc, x);
      } else if (auto* block = dynamic_cast<ResidualBlock*>(&m)) {
        x = residual_block(*block, x);
      } else if (dynamic_cast<Sequential*>(&m) != nullptr) {
        x = sequence(m.children(), x);
      } else if (dynamic_cast<Identity*>(&m) != nullptr || dynamic_cast<IdentityWrapper*>(&m) != nullptr ||
                 dynamic_cast<Dropout*>(&m) != nullptr) {
        continue;  // the identity in eval mode: x as it is
      } else {
        unsupported(m, "not supported by the ONNX export");
      }
    }
    return x;
  }

  // The encoder's first `count` stage outputs (stem after its ReLU, layer1, ...), walking its top-level
  // modules in groups that each end a stage (as the plan's stage_values).
  std::vector<std::string> stage_outputs(ResNet& encoder, size_t count, std::string x) {
    const std::vector<std::string> names = encoder.stage_names();
    const std::string prefix = encoder.path().empty() ? "" : encoder.path() + ".";
    std::vector<std::string> outputs;
    std::vector<Module*> group;
    for (Module* child : encoder.children()) {
      if (outputs.size() == count) break;
      group.push_back(child);
      const std::string& stage = names[outputs.size()];
      if (child->path() != prefix + (stage == "stem" ? "relu" : stage)) continue;
      x = sequence(group, x);
      group.clear();
      outputs.push_back(x);
    }
    if (outputs.size() != count) {
      throw InternalError(fmt::format("{}: {} of {} stages found", encoder.path(), outputs.size(), count));
    }
    return outputs;
  }

  // smp's UnetDecoder over tensor names (walk_unet_decoder, models/unet_decoder.h).
  std::string unet_decoder(UnetDecoder& decoder, const std::vector<std::string>& features) {
    if (Module* child = decoder.unknown_child())
      unsupported(*child, fmt::format("a child of {} the ONNX export does not know", decoder.path()));
    return walk_unet_decoder(decoder, features, std::string(),
                             [this](UnetDecoderBlock& block, const std::string& x, const std::string& skip) {
                               return decoder_block(block, x, skip);
                             });
  }

 private:
  // A weight as an initializer under its state_dict key.
  std::string weight(const std::string& key, const Tensor& value) { return g_.add_initializer(key, value); }

  // conv (+ bn): one Conv, then a BatchNormalization; with fold_bn one Conv with the BN folded into its
  // weight and bias (named after the conv's weight: "<conv>.weight", "<conv>.bias").
  std::string conv_bn(Conv2d& conv, BatchNorm2d* bn, const std::string& x) {
    const Tensor bias = conv.bias() ? conv.bias()->value : Tensor();
    std::vector<std::string> inputs = {x};
    if (bn && fold_bn_) {
      infer::FoldedConv folded = infer::fold_batchnorm(
          conv.weight().value, bias,
          {bn->weight().value, bn->bias().value, bn->running_mean(), bn->running_var(), bn->eps()});
      inputs.push_back(weight(conv.weight().name, folded.weight));
      inputs.push_back(weight(conv.path() + ".bias", folded.bias));
    } else {
      inputs.push_back(weight(conv.weight().name, conv.weight().value));
      if (conv.bias()) inputs.push_back(weight(conv.bias()->name, bias));
    }
    onnx::NodeProto& node = g_.add_node("Conv", conv.path(), inputs);
    set_window(node, conv.options().window);
    set_int(node, "group", conv.options().window.groups);
    const std::string y = OnnxGraph::output_of(node);
    return bn && !fold_bn_ ? batch_norm(*bn, y) : y;
  }

  std::string batch_norm(BatchNorm2d& bn, const std::string& x) {
    onnx::NodeProto& node =
        g_.add_node("BatchNormalization", bn.path(),
                    {x, weight(bn.weight().name, bn.weight().value), weight(bn.bias().name, bn.bias().value),
                     weight(bn.path() + ".running_mean", bn.running_mean()),
                     weight(bn.path() + ".running_var", bn.running_var())});
    set_float(node, "epsilon", bn.eps());
    return OnnxGraph::output_of(node);
  }

  std::string relu(const Module& m, const std::string& x) {
    return OnnxGraph::output_of(g_.add_node("Relu", m.path(), {x}));
  }

  // Flatten (from the pooled [N, C, 1, 1]) and Gemm: y = x fc.weight^T + fc.bias.
  std::string linear(Linear& fc, const std::string& x) {
    const std::string flat = OnnxGraph::output_of(g_.add_node("Flatten", "flatten", {x}));
    std::vector<std::string> inputs = {flat, weight(fc.weight().name, fc.weight().value)};
    if (fc.bias()) inputs.push_back(weight(fc.bias()->name, fc.bias()->value));
    onnx::NodeProto& node = g_.add_node("Gemm", fc.path(), inputs);
    set_int(node, "transB", 1);
    return OnnxGraph::output_of(node);
  }

  // out = output_relu(branch(x) + shortcut(x)); dropout is the identity in eval mode.
  std::string residual_block(ResidualBlock& block, const std::string& x) {
    const BlockStructure& s = block.structure();
    for (Module* child : block.children()) {
      if (!s.describes(*child)) {
        unsupported(*child, fmt::format("a child of {} ({}) that its block structure does not describe",
                                        block.path(), block.type_name()));
      }
    }
    std::string y = x;
    for (const BranchStage& stage : s.branch) {
      y = conv_bn(*stage.conv, stage.bn, y);
      if (stage.relu) y = relu(*stage.relu, y);
    }
    std::string shortcut = x;
    if (s.shortcut == ShortcutKind::projection) shortcut = sequence({s.downsample}, x);
    if (s.shortcut == ShortcutKind::zero_pad) shortcut = zero_pad_shortcut(*s.zero_pad, x);
    y = OnnxGraph::output_of(g_.add_node("Add", block.path() + ".add", {y, shortcut}));
    return s.output_relu ? relu(*s.output_relu, y) : y;
  }

  // He et al.'s option A: x[:, :, ::stride, ::stride] (a Slice with steps), then the channels padded with
  // zeros, pad_before before and the rest after (a constant-mode Pad).
  std::string zero_pad_shortcut(const ZeroPadShortcut& z, std::string x) {
    const std::string& path = z.path();
    if (z.stride() != 1) {
      const int64_t end = std::numeric_limits<int64_t>::max();
      x = OnnxGraph::output_of(
          g_.add_node("Slice", path + ".slice",
                      {x, g_.constant_i64(path + ".starts", {0, 0}),
                       g_.constant_i64(path + ".ends", {end, end}), g_.constant_i64(path + ".axes", {2, 3}),
                       g_.constant_i64(path + ".steps", {z.stride(), z.stride()})}));
    }
    const int64_t after = z.out_channels() - z.in_channels() - z.pad_before();
    onnx::NodeProto& pad =
        g_.add_node("Pad", path + ".pad",
                    {x, g_.constant_i64(path + ".pads", {0, z.pad_before(), 0, 0, 0, after, 0, 0})});
    set_string(pad, "mode", "constant");
    return OnnxGraph::output_of(pad);
  }

  // x2 nearest upsample (Resize; PyTorch's nearest: asymmetric coordinates, floor), concat of the skip after
  // the upsampled channels (none when `skip` is empty), then each conv-BN-ReLU stage.
  std::string decoder_block(UnetDecoderBlock& block, const std::string& x, const std::string& skip) {
    const DecoderBlockStructure& s = block.structure();
    if (Module* part = block.undescribed_part()) {
      unsupported(*part, fmt::format("a part of {} ({}) that its block structure does not describe",
                                     block.path(), block.type_name()));
    }
    if (skip.empty() != (s.skip_channels == 0)) {
      throw InternalError(
          fmt::format("{}: a skip for a block of {} skip channels", block.path(), s.skip_channels));
    }
    const std::string& path = block.path();
    onnx::NodeProto& resize =
        g_.add_node("Resize", path + ".upsample", {x, "", g_.constant_f32(path + ".scales", {1, 1, 2, 2})});
    set_string(resize, "mode", "nearest");
    set_string(resize, "coordinate_transformation_mode", "asymmetric");
    set_string(resize, "nearest_mode", "floor");
    std::string y = OnnxGraph::output_of(resize);
    if (!skip.empty()) {
      onnx::NodeProto& concat = g_.add_node("Concat", path + ".concat", {y, skip});
      set_int(concat, "axis", 1);
      y = OnnxGraph::output_of(concat);
    }
    for (const BranchStage& stage : s.stages) {
      y = conv_bn(*stage.conv, stage.bn, y);
      if (stage.relu) y = relu(*stage.relu, y);
    }
    return y;
  }

  OnnxGraph& g_;
  bool fold_bn_;
};

void check_options(const std::string& model_name, const OnnxExportOptions& o) {
  if (o.opset < kOnnxMinOpset || o.opset > kOnnxMaxOpset) {
    throw InputError(fmt::format("{}: ONNX opset {} is not supported (supported: {}..{})", model_name,
                                 o.opset, kOnnxMinOpset, kOnnxMaxOpset));
  }
  if (!o.dynamic_batch && o.batch < 1) {
    throw InputError(fmt::format("{}: batch {} for the ONNX input (at least 1)", model_name, o.batch));
  }
  if (o.image_size < 0) {
    throw InputError(
        fmt::format("{}: image size {} for the ONNX input (at least 1)", model_name, o.image_size));
  }
}

// The IR version of an opset's ONNX release: 1.8/1.9 (opsets 13, 14) wrote IR 7, 1.10-1.12 (15-17) IR 8.
int64_t ir_version(int opset) {
  return opset <= 14 ? 7 : 8;
}

// An empty model of the options' opset, its graph named `name`.
onnx::ModelProto new_model(const std::string& name, const OnnxExportOptions& o) {
  onnx::ModelProto model;
  model.set_ir_version(ir_version(o.opset));
  model.set_producer_name("resnet.cpp");
  model.set_doc_string(name);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(o.opset);
  model.mutable_graph()->set_name(name);
  return model;
}

// onnx's checker, then the serialized model to `path` (temp file + rename).
void check_and_write(const onnx::ModelProto& model, const std::string& path) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw InternalError(fmt::format("{}: the exported graph fails onnx's checker: {}", path, e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    throw InternalError(fmt::format("{}: the ONNX model could not be serialized (larger than 2 GiB?)", path));
  }
  write_file_atomic(path, bytes);
}

}  // namespace
}  // namespace onnx_export

// The export only reads the model; its modules' accessors are non-const (they serve training too).
void export_onnx(const ResNet& const_model, const std::string& path, const OnnxExportOptions& options) {
  using namespace onnx_export;
  ResNet& model = const_cast<ResNet&>(const_model);
  const ResNetConfig& config = model.config();
  check_options(config.name, options);
  if (!config.classifier) unsupported(model, "a backbone without a classifier has no logits to export");
  const int64_t size = options.image_size > 0 ? options.image_size : config.stem == Stem::cifar ? 32 : 224;
  const int64_t batch = options.dynamic_batch ? 1 : options.batch;
  const std::string batch_param = options.dynamic_batch ? "batch" : "";

  onnx::ModelProto proto = new_model(config.name, options);
  OnnxGraph graph(*proto.mutable_graph());
  graph.add_input("input", {batch, config.in_channels, size, size}, batch_param);
  const std::string logits = Exporter(graph, options.fold_bn).sequence(model.children(), "input");
  graph.rename_output(logits, "logits");
  graph.add_output("logits", {batch, config.num_classes}, batch_param);
  check_and_write(proto, path);
}

void export_onnx(const UNet& const_model, const std::string& path, const OnnxExportOptions& options) {
  using namespace onnx_export;
  UNet& model = const_cast<UNet&>(const_model);
  const UNetConfig& config = model.config();
  check_options(config.name, options);
  const int64_t multiple = int64_t{1} << config.encoder_depth;
  const int64_t size = options.image_size > 0 ? options.image_size : 224;
  if (size % multiple != 0) {
    throw InputError(fmt::format("{}: image size {} is not a multiple of {} (2^encoder_depth, depth {})",
                                 config.name, size, multiple, config.encoder_depth));
  }
  const int64_t batch = options.dynamic_batch ? 1 : options.batch;
  const std::string batch_param = options.dynamic_batch ? "batch" : "";

  onnx::ModelProto proto = new_model(config.name, options);
  OnnxGraph graph(*proto.mutable_graph());
  graph.add_input("input", {batch, config.encoder.in_channels, size, size}, batch_param);
  Exporter exporter(graph, options.fold_bn);
  const std::vector<std::string> features =
      exporter.stage_outputs(model.encoder(), static_cast<size_t>(config.encoder_depth), "input");
  std::string x = exporter.unet_decoder(model.decoder(), features);
  x = exporter.sequence({&model.segmentation_head()}, x);
  graph.rename_output(x, "masks");
  graph.add_output("masks", {batch, config.classes, size, size}, batch_param);
  check_and_write(proto, path);
}

}  // namespace resnet
