// ONNX export: a ResNet classifier or a U-Net as an ONNX model file (onnx::ModelProto from Debian's
// libonnx-dev), for ONNX Runtime, OpenVINO and the other runtimes.
//
// The graph is the module tree, node for node: Conv, BatchNormalization (or folded into the Conv before it),
// Relu, MaxPool, Add (the residual join), GlobalAveragePool, Flatten, Gemm; the CIFAR networks' zero-pad
// shortcut is a strided Slice and a Pad of the channels; a U-Net's decoder adds Resize (nearest, x2) and
// Concat. Initializers carry the state_dict keys ("layer1.0.conv1.weight", "bn1.running_mean";
// num_batches_tracked is not used by inference and is left out). Input `input`: float32 NCHW [N, C, H, W];
// output `logits` [N, classes] (a U-Net's `masks`: logits [N, classes, H, W], as smp returns them).
#pragma once

#include <string>

#include "resnet/model.h"
#include "resnet/unet.h"

namespace resnet {

struct OnnxExportOptions {
  int opset = 17;              // 13..17 (Debian's onnx 1.12 knows up to 17)
  int batch = 1;               // N of the input, fixed; ignored with dynamic_batch
  bool dynamic_batch = false;  // N is the symbolic dimension "batch"
  bool fold_bn = false;        // BatchNormalization folded into the Conv before it (weights and a bias)
  // H = W of the input; 0: the model's own (32 for a CIFAR stem, else 224). A U-Net's must be a multiple of
  // 2^encoder_depth.
  int image_size = 0;
};

// The first opset and the last one export_onnx writes.
inline constexpr int kOnnxMinOpset = 13;
inline constexpr int kOnnxMaxOpset = 17;

// Writes the model (its weights as they are now; the model is read, not changed) to `path` atomically
// (temp file + rename): a failure leaves no file behind. The graph passes onnx::checker::check_model before
// it is written. InputError for bad options (opset out of range, batch < 1, an image size the model cannot
// take) or a file that cannot be written; InputError naming the module for a module the exporter does not
// know.
void export_onnx(const ResNet& model, const std::string& path, const OnnxExportOptions& options = {});
void export_onnx(const UNet& model, const std::string& path, const OnnxExportOptions& options = {});

}  // namespace resnet
