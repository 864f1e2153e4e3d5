// resnet infer --arch A [--weights F] [--num-classes N] [--in-channels C] --input-npy IN.npy [--output-npy
// OUT.npy] [--dtype f32|bf16|int8] [--no-fuse] [--threads T]
// IN: float32 NCHW images (as numpy/PyTorch hold them). OUT: float32 logits [N, classes]. Without
// --output-npy, prints the top-5 classes per image with softmax probabilities. Runs the compiled inference
// plan (BN folded, fused post-ops) unless --no-fuse asks for the layer-by-layer model (f32 only). int8 takes
// its activation scales from an .int8.safetensors file made by `resnet quantize` (and refuses a plain one).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>

#include "cli/common.h"
#include "resnet/calibration.h"
#include "resnet/error.h"
#include "resnet/npy.h"
#include "resnet/plan.h"

namespace resnet::cli {
namespace {

struct InferOptions {
  ModelOptions model;
  std::string input_npy;
  std::string output_npy;
  std::string dtype = "f32";
  bool no_fuse = false;
  bool no_winograd = false;
  int threads = 0;
};

void print_top5(const Tensor& logits) {
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  const float* p = logits.f32();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * classes;
    const float max = *std::max_element(row, row + classes);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c] - max));
    std::vector<int64_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    const int64_t k = std::min<int64_t>(5, classes);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [row](int64_t a, int64_t b) { return row[a] > row[b]; });
    std::string line = fmt::format("image {}:", i);
    for (int64_t j = 0; j < k; ++j) {
      line += fmt::format(" {} ({:.4f})", order[j], std::exp(static_cast<double>(row[order[j]] - max)) / sum);
    }
    std::cout << line << "\n";
  }
}

void run_infer(const InferOptions& o) {
  apply_threads(o.threads);
  Tensor input = load_npy(o.input_npy);  // [N,C,H,W]
  if (input.rank() != 4 || input.dim(1) != o.model.in_channels) {
    throw InputError(fmt::format("{}: expected float32 [N,{},H,W] (NCHW), got {}", o.input_npy,
                                 o.model.in_channels, shape_str(input.shape())));
  }
  const Precision precision = parse_precision(o.dtype);
  if (o.no_fuse && precision != Precision::f32) {
    throw InputError(fmt::format("--dtype {}: the layer-by-layer path (--no-fuse) runs f32 only", o.dtype));
  }
  std::shared_ptr<const Int8Calibration> int8;
  auto model = build_model(o.model, Init::torchvision, &int8);
  if (precision == Precision::int8 && int8 == nullptr) {
    throw InputError(
        fmt::format("--dtype int8 needs calibrated activation scales, and {}: make an "
                    ".int8.safetensors file with `resnet quantize`",
                    o.model.weights.empty() ? "no --weights file was given" : o.model.weights + " has none"));
  }
  PlanOptions options{.winograd = !o.no_winograd};
  if (precision == Precision::int8) options.int8 = int8;
  const Tensor images = nchw_to_nhwc(input);
  Tensor logits = o.no_fuse ? model->forward(images)
                            : InferencePlan::compile(*model, precision, images.shape(), options).run(images);
  if (o.output_npy.empty()) {
    print_top5(logits);
  } else {
    save_npy(logits, o.output_npy);
  }
}

}  // namespace

void register_infer(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  auto* cmd = app.add_subcommand("infer", "classify a batch of images from a .npy file");
  add_model_options(*cmd, o->model, true);
  cmd->add_option("--input-npy", o->input_npy, "float32 NCHW images")->required();
  cmd->add_option("--output-npy", o->output_npy, "write float32 logits [N, classes] here");
  cmd->add_option("--dtype", o->dtype,
                  "compute precision: f32, bf16 or int8 (int8: weights from resnet quantize)")
      ->capture_default_str();
  cmd->add_flag("--no-fuse", o->no_fuse, "run the model layer by layer instead of the compiled plan");
  cmd->add_flag("--no-winograd", o->no_winograd,
                "f32 plan: run 3x3 stride-1 convolutions directly instead of as Winograd F(4x4,3x3)");
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] { run_infer(*o); });
}

}  // namespace resnet::cli
