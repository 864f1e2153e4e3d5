// resnet export --arch A [--weights W] --onnx OUT.onnx [--opset 17] [--batch N | --dynamic-batch] [--fold-bn]
// [--size S] [--num-classes K] [--in-channels C] [--stem S] [--dilation a,b,c] [--encoder-depth D]
// [--decoder-channels a,b,...]
// Writes the model as ONNX (resnet/onnx_export.h): input `input` float32 NCHW [N, C, S, S], output `logits`
// [N, classes] (a U-Net's `masks` [N, classes, S, S]). OUT is written atomically: a bad flag or file leaves
// none behind.
#include <fmt/format.h>

#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/onnx_export.h"

namespace resnet::cli {
namespace {

struct ExportOptions {
  ModelOptions model;
  std::string onnx;
  OnnxExportOptions onnx_options;
};

void run_export(const ExportOptions& o) {
  const OnnxExportOptions& e = o.onnx_options;
  // Checked before the weights are read: a bad flag costs nothing.
  if (e.opset < kOnnxMinOpset || e.opset > kOnnxMaxOpset) {
    throw InputError(
        fmt::format("--opset {}: supported opsets are {}..{}", e.opset, kOnnxMinOpset, kOnnxMaxOpset));
  }
  auto model = build_any_model(o.model);
  if (auto* unet = dynamic_cast<UNet*>(model.get())) {
    export_onnx(*unet, o.onnx, e);
  } else {
    export_onnx(dynamic_cast<ResNet&>(*model), o.onnx, e);
  }
  const std::string batch = e.dynamic_batch ? "batch" : std::to_string(e.batch);
  std::cout << fmt::format("{} -> {} (opset {}, batch {}{})\n", o.model.arch, o.onnx, e.opset, batch,
                           e.fold_bn ? ", batch norm folded" : "");
}

}  // namespace

void register_export(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export", "write a model as ONNX (for ONNX Runtime, OpenVINO, ...)");
  add_model_options(*cmd, o->model, true);
  add_backbone_options(*cmd, o->model);
  cmd->add_option("--onnx", o->onnx, "the ONNX file to write")->required();
  cmd->add_option("--opset", o->onnx_options.opset,
                  fmt::format("ONNX opset, {}..{}", kOnnxMinOpset, kOnnxMaxOpset))
      ->capture_default_str();
  auto* batch = cmd->add_option("--batch", o->onnx_options.batch, "the input's batch size N (fixed)")
                    ->check(CLI::Range(1, 1 << 16))
                    ->capture_default_str();
  cmd->add_flag("--dynamic-batch", o->onnx_options.dynamic_batch, "N is the symbolic dimension \"batch\"")
      ->excludes(batch);
  cmd->add_flag("--fold-bn", o->onnx_options.fold_bn, "fold each BatchNormalization into the Conv before it");
  cmd->add_option("--size", o->onnx_options.image_size,
                  "input height = width (default: 224; 32 for the CIFAR stem; a U-Net's: a multiple of "
                  "2^encoder_depth)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->callback([o] { run_export(*o); });
}

}  // namespace resnet::cli
