// Starting a model from pretrained weights (transfer learning), as timm's load_pretrained does:
//   - every tensor whose name and shape match is loaded;
//   - the classifier (fc.weight, fc.bias) keeps the model's fresh initialisation when the file's has another
//     class count ([1000, 2048] in the file, [10, 2048] in the model);
//   - the first convolution (conv1.weight) is adapted when the file's has 3 input channels and the model
//     another count C (timm's adapt_input_conv): C = 1 takes the sum over R, G, B; otherwise R, G, B are
//     repeated cyclically over the C channels and scaled by 3 / C;
//   - anything else that differs (a tensor missing from the file, one the model does not have, another shape)
//     is an InputError naming the tensor and both shapes, unless options.strict is false: then it is skipped
//     and reported.
//
//   resnet::ResNet model(resnet::zoo_config("resnet50", {.num_classes = 10}));
//   resnet::PretrainedReport report = resnet::load_pretrained(model, "resnet50.pth");
//   std::cout << report.describe() << "\n";
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resnet/model.h"

namespace resnet {

struct PretrainedOptions {
  bool strict = true;
};

struct PretrainedReport {
  std::string source;                      // the file's name (no folder), as the report names it
  int64_t loaded = 0;                      // tensors copied from the file (adapted ones included)
  std::vector<std::string> reinitialised;  // classifier tensors that kept the model's initialisation
  int64_t file_classes = 0, model_classes = 0;
  std::vector<std::string> adapted;  // first-convolution weights adapted to the model's channels
  int64_t file_channels = 0, model_channels = 0;
  std::vector<std::string> skipped;  // non-strict only: "layer1.0.conv1.weight: model [..], file [..]"
  std::vector<std::string> dropped;  // the file's classifier, for a model without one (a U-Net's encoder)

  // "init: 318 tensors loaded from resnet50.pth; fc.weight, fc.bias re-initialised (1000 -> 10 classes);
  //  conv1.weight adapted (3 -> 1 channels)" (one line; skipped tensors follow as "; skipped: ...").
  std::string describe() const;
};

// file: a .pth or .safetensors state_dict (torchvision names), or a `resnet train` run's state.safetensors or
// run folder (the model of its last committed epoch). Throws InputError naming the file and the tensor.
PretrainedReport load_pretrained(ResNet& model, const std::string& file,
                                 const PretrainedOptions& options = {});

// The tensors load_pretrained reads from `file` (a run's state or folder: its model).
StateDict read_pretrained_weights(const std::string& file);
// load_pretrained of tensors already read from `file`. A model that is part of a larger one (a U-Net's
// encoder, path "encoder") takes the file's torchvision names under its own prefix ("conv1.weight" ->
// "encoder.conv1.weight"); a model without a classifier drops the file's fc.weight and fc.bias (reported as
// dropped).
PretrainedReport load_pretrained(ResNet& model, StateDict tensors, const std::string& file,
                                 const PretrainedOptions& options = {});

}  // namespace resnet
