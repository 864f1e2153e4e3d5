// resnet explain --arch A --weights W IMAGE [--class K] [--layer layer4] --out cam.png [--out-npy cam.npy]
// Grad-CAM: where the model looks when it scores class K (default: its top-1) on one photo. The image gets
// the same evaluation transform as in `resnet predict` (its input conventions: "Image models" in
// cli/common.h); the map is drawn over the center-cropped image with the class name and probability, and
// --out-npy writes the map itself (f32 [H,W] in [0,1], before colouring).
#include <fmt/format.h>

#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/grad_cam.h"
#include "resnet/npy.h"
#include "resnet/predict.h"

namespace resnet::cli {
namespace {

struct ExplainFlags {
  std::string arch, weights, image, layer = "layer4", out, out_npy;
  int64_t class_index = -1;
  int threads = 0;
};

// "tabby cat 87.3%", or "class 3 87.3%" without names.
std::string caption(const std::vector<std::string>& labels, const GradCam& g) {
  const std::string name =
      labels.empty() ? fmt::format("class {}", g.class_index) : labels[size_t(g.class_index)];
  return fmt::format("{} {:.1f}%", name, 100.0 * g.probability);
}

void run_explain(const ExplainFlags& f) {
  apply_threads(f.threads);
  if (f.out.empty() && f.out_npy.empty())
    throw InputError("nothing to write: give --out cam.png, --out-npy cam.npy or both");
  const StateDict weights = load_model_weights(f.weights, nullptr);
  const std::optional<RunRecord> run = find_run(f.weights);
  std::unique_ptr<ResNet> model = build_model_for_weights(f.arch, weights, f.weights, run);
  const int channels = model->config().in_channels;
  const DatasetInfo data = input_conventions(f.weights, run, channels);
  const std::vector<std::string> labels = choose_labels("", f.weights, run, model->config().num_classes);
  const TransformSpec transform = predict_transform(data, run, 0);

  const Tensor x = load_model_input(f.image, channels, transform);  // [S,S,C], normalised
  const GradCam g = grad_cam(*model, x.reshaped({1, x.dim(0), x.dim(1), x.dim(2)}),
                             {.layer = f.layer, .class_index = f.class_index});
  if (!f.out_npy.empty()) save_npy(g.cam, f.out_npy);
  if (!f.out.empty()) {
    TransformSpec pixels_only = transform;  // the same crop, before Normalize: pixels in [0,1]
    pixels_only.mean.clear();
    pixels_only.std.clear();
    write_grad_cam_png(load_model_input(f.image, channels, pixels_only), g.cam, caption(labels, g), f.out);
  }
  std::cout << fmt::format(
      "{}: {} (class {}, p = {:.4f}), Grad-CAM at {} -> {}\n", f.image,
      labels.empty() ? fmt::format("class {}", g.class_index) : labels[size_t(g.class_index)], g.class_index,
      g.probability, f.layer, f.out.empty() ? f.out_npy : f.out);
}

}  // namespace

void register_explain(CLI::App& app) {
  auto f = std::make_shared<ExplainFlags>();
  auto* cmd = app.add_subcommand("explain", "Grad-CAM: a heat map of where the model looks in a photo");
  cmd->add_option("--arch", f->arch, "architecture (see `resnet list`)")->required();
  cmd->add_option("--weights", f->weights,
                  "weights: torchvision .pth, .safetensors or a `resnet train` run's best/last.safetensors")
      ->required();
  cmd->add_option("--class", f->class_index, "the class to explain (default: the top-1 class)");
  cmd->add_option("--layer", f->layer, "the stage whose output is weighted: stem, layer1 .. layer4")
      ->capture_default_str();
  cmd->add_option("--out", f->out, "the picture: the map over the center-cropped image (PNG)");
  cmd->add_option("--out-npy", f->out_npy, "the map itself: f32 [H,W] in [0,1] (.npy)");
  add_threads_option(*cmd, f->threads);
  cmd->add_option("image", f->image, "a .jpg, .jpeg or .png photo")->required();
  cmd->callback([f] { run_explain(*f); });
}

}  // namespace resnet::cli
