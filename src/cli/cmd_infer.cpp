// resnet infer --arch A [--weights F] [--num-classes N] [--in-channels C] --input-npy IN.npy [--output-npy
// OUT.npy] [--dtype f32|bf16|int8] [--no-fuse] [--threads T]
// IN: float32 NCHW images (as numpy/PyTorch hold them). OUT: float32 logits [N, classes]; for a U-Net
// (--arch unet-...) logits [N, classes, H, W]. Without --output-npy, prints the top-5 classes per image with
// softmax probabilities (a U-Net: the classes that win the most pixels). Runs the compiled inference plan (BN
// folded, fused post-ops) unless --no-fuse asks for the layer-by-layer model (f32 only). int8 takes its
// activation scales from an .int8.safetensors file made by `resnet quantize` (and refuses a plain one); a
// U-Net has no int8 plan.
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
#include "resnet/unet.h"

namespace resnet::cli {
namespace {

struct InferOptions {
  ModelOptions model;
  std::string input_npy;
  std::string output_npy;
  std::string dtype = "f32";
  bool no_fuse = false;
  bool no_winograd = false;
  TuneFlags tune;
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

// Per image, the classes that win the most pixels: "image 0: class 3 (41.2% of pixels), ..."; one class
// (binary, as smp's classes=1): the share of pixels whose logit is > 0.
void print_pixel_shares(const Tensor& logits) {  // [N,H,W,K]
  const int64_t n = logits.dim(0), pixels = logits.dim(1) * logits.dim(2), classes = logits.dim(3);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> wins(classes, 0);
    int64_t positive = 0;
    for (int64_t p = 0; p < pixels; ++p) {
      const float* row = logits.f32() + (i * pixels + p) * classes;
      ++wins[std::max_element(row, row + classes) - row];
      positive += row[0] > 0.0f;
    }
    std::string line = fmt::format("image {}:", i);
    if (classes == 1) {
      line += fmt::format(" logit > 0 on {:.1f}% of pixels", 100.0 * double(positive) / double(pixels));
    } else {
      std::vector<int64_t> order(classes);
      std::iota(order.begin(), order.end(), 0);
      const int64_t k = std::min<int64_t>(5, classes);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&wins](int64_t a, int64_t b) { return wins[a] > wins[b]; });
      for (int64_t j = 0; j < k; ++j) {
        line += fmt::format(" class {} ({:.1f}% of pixels)", order[j],
                            100.0 * double(wins[order[j]]) / double(pixels));
      }
    }
    std::cout << line << "\n";
  }
}

// A U-Net's logits [N,K,H,W] (NCHW, as smp returns them), through the plan or layer by layer.
void run_unet_infer(const InferOptions& o, const Tensor& input, Precision precision) {
  auto model = build_any_model(o.model, Init::torchvision);
  UNet& unet = dynamic_cast<UNet&>(*model);
  const Tensor images = nchw_to_nhwc(input);
  const Tensor logits =
      o.no_fuse ? unet.forward(images)
                : InferencePlan::compile(unet, precision, images.shape(),
                                         {.winograd = !o.no_winograd, .tune = want_tuning(o.tune, true)})
                      .run(images);  // [N,H,W,K]
  if (o.output_npy.empty()) {
    print_pixel_shares(logits);
  } else {
    save_npy(nhwc_to_nchw(logits), o.output_npy);
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
  if (precision == Precision::bf16) note_if_bf16_is_slower("--dtype");
  if (o.no_fuse && precision != Precision::f32) {
    throw InputError(fmt::format("--dtype {}: the layer-by-layer path (--no-fuse) runs f32 only", o.dtype));
  }
  if (is_unet_name(o.model.arch)) return run_unet_infer(o, input, precision);
  std::shared_ptr<const Int8Calibration> int8;
  auto model = build_model(o.model, Init::torchvision, &int8);
  if (precision == Precision::int8 && int8 == nullptr) {
    throw InputError(
        fmt::format("--dtype int8 needs calibrated activation scales, and {}: make an "
                    ".int8.safetensors file with `resnet quantize`",
                    o.model.weights.empty() ? "no --weights file was given" : o.model.weights + " has none"));
  }
  PlanOptions options{.winograd = !o.no_winograd};
  options.tune = !o.no_fuse && want_tuning(o.tune, true);
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
  cmd->add_option("--output-npy", o->output_npy,
                  "write float32 logits [N, classes] here (a U-Net's: [N, classes, H, W])");
  cmd->add_option("--dtype", o->dtype,
                  "compute precision: f32, bf16 or int8 (int8: weights from resnet quantize)")
      ->capture_default_str();
  add_plan_flags(*cmd, o->no_fuse, o->no_winograd);
  add_tune_flags(*cmd, o->tune, true);
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] { run_infer(*o); });
}

}  // namespace resnet::cli
