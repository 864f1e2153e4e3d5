// resnet features --arch A [--weights W] --input-npy IN.npy --out-dir DIR [--stages layer1,...,layer4]
// [--dtype f32|bf16] [--no-fuse] [--stem S] [--dilation a,b,c] [--threads T]
// IN: float32 NCHW images. Writes DIR/<stage>.npy for each stage: float32 NCHW [N, C, H/r, W/r], as
// torchvision's IntermediateLayerGetter returns them; each file atomically (temp + rename). Runs the compiled
// plan of the backbone (InferencePlan::compile_features) unless --no-fuse asks for the layer-by-layer
// ResNet::forward_features (f32 only).
// Also `summary --features` (print_feature_summary): the stages' channels, reductions and shapes.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "dnnl/ops.h"
#include "resnet/error.h"
#include "resnet/npy.h"
#include "resnet/plan.h"

namespace resnet::cli {
namespace {

struct FeaturesOptions {
  ModelOptions model;
  std::string input_npy;
  std::string out_dir;
  std::string stages = "layer1,layer2,layer3,layer4";
  std::string dtype = "f32";
  bool no_fuse = false;
  bool no_winograd = false;
  TuneFlags tune;
  int threads = 0;
};

// "layer1,layer2" -> {"layer1", "layer2"}; the names are checked by the model.
std::vector<std::string> split_stages(const std::string& text) {
  std::vector<std::string> stages;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    stages.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return stages;
}

void run_features(const FeaturesOptions& o) {
  apply_threads(o.threads);
  const Tensor input = load_npy(o.input_npy);  // [N,C,H,W]
  if (input.rank() != 4 || input.dim(1) != o.model.in_channels) {
    throw InputError(fmt::format("{}: expected float32 [N,{},H,W] (NCHW), got {}", o.input_npy,
                                 o.model.in_channels, shape_str(input.shape())));
  }
  const Precision precision = parse_precision(o.dtype);
  if (precision == Precision::bf16) note_if_bf16_is_slower("--dtype");
  if (precision == Precision::int8) {
    throw InputError("--dtype int8: features are computed in f32 or bf16 (the int8 plan gives logits only)");
  }
  if (o.no_fuse && precision != Precision::f32) {
    throw InputError(fmt::format("--dtype {}: the layer-by-layer path (--no-fuse) runs f32 only", o.dtype));
  }
  const std::vector<std::string> stages = split_stages(o.stages);
  auto model = build_model(o.model);
  const Tensor images = nchw_to_nhwc(input);
  std::vector<Tensor> features;
  if (o.no_fuse) {
    features = model->forward_features(images, stages);
  } else {
    const PlanOptions options{.winograd = !o.no_winograd, .tune = want_tuning(o.tune, false)};
    features = InferencePlan::compile_features(*model, stages, precision, images.shape(), options)
                   .run_features(images);
  }
  std::filesystem::create_directories(o.out_dir);
  for (size_t i = 0; i < stages.size(); ++i) {
    const std::string path = (std::filesystem::path(o.out_dir) / (stages[i] + ".npy")).string();
    const Tensor nchw = nhwc_to_nchw(ops::convert(features[i], DType::f32));
    save_npy(nchw, path);
    std::cout << fmt::format("{}: {} -> {}\n", stages[i], shape_str(nchw.shape()), path);
  }
}

}  // namespace

void print_feature_summary(ResNet& model, const std::string& arch, const std::array<int64_t, 3>& chw,
                           bool json) {
  const std::vector<FeatureInfo> info = model.feature_info();
  std::vector<std::string> stages;
  for (const FeatureInfo& f : info) stages.push_back(f.name);
  std::vector<Tensor> shapes;
  {
    ops::ShapeOnly shapes_only;
    shapes = model.forward_features(Tensor({1, chw[1], chw[2], chw[0]}), stages);
  }
  auto nchw = [](const Shape& s) { return Shape{s[0], s[3], s[1], s[2]}; };
  if (json) {
    nlohmann::json features = nlohmann::json::array();
    for (size_t i = 0; i < info.size(); ++i) {
      features.push_back({{"name", info[i].name},
                          {"channels", info[i].channels},
                          {"reduction", info[i].reduction},
                          {"shape", nchw(shapes[i].shape())}});
    }
    std::cout << nlohmann::json{{"arch", arch},
                                {"input_shape", {1, chw[0], chw[1], chw[2]}},
                                {"features", features}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << fmt::format("{} features with input [1,{},{},{}]\n", arch, chw[0], chw[1], chw[2])
            << fmt::format("{:<8} {:>9} {:>10}  {}\n", "Stage", "Channels", "Reduction", "Shape");
  for (size_t i = 0; i < info.size(); ++i) {
    std::cout << fmt::format("{:<8} {:>9} {:>10}  {}\n", info[i].name, info[i].channels, info[i].reduction,
                             shape_str(nchw(shapes[i].shape())));
  }
}

void register_features(CLI::App& app) {
  auto o = std::make_shared<FeaturesOptions>();
  auto* cmd = app.add_subcommand("features", "multi-scale features of a backbone's stages to .npy files");
  add_model_options(*cmd, o->model, true);
  add_backbone_options(*cmd, o->model);
  cmd->add_option("--input-npy", o->input_npy, "float32 NCHW images")->required();
  cmd->add_option("--out-dir", o->out_dir, "write <stage>.npy (float32 NCHW) here")->required();
  cmd->add_option("--stages", o->stages, "comma-separated: stem, layer1 .. layerN")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "compute precision: f32 or bf16")->capture_default_str();
  add_plan_flags(*cmd, o->no_fuse, o->no_winograd);
  add_tune_flags(*cmd, o->tune, false);
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] { run_features(*o); });
}

}  // namespace resnet::cli
