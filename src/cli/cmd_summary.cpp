// resnet summary --arch A [--num-classes N] [--in-channels C] [--input CxHxW] [--json]: a torchinfo-like
// table.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/model_stats.h"
#include "resnet/error.h"
#include "resnet/zoo.h"

namespace resnet::cli {
namespace {

struct SummaryOptions {
  ModelOptions model;
  std::string input = "";  // CxHxW; default: in_channels x 224 x 224
  bool json = false;
  bool features = false;
};

// A classifier's output is [1, classes], a U-Net's [1, classes, H, W].
int64_t num_classes(const Shape& output_shape) {
  return output_shape.size() == 4 ? output_shape[1] : output_shape.back();
}

nlohmann::json to_json(const ModelOptions& m, const std::array<int64_t, 3>& chw, const ModelStats& stats) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerStats& l : stats.layers) {
    layers.push_back({{"name", l.path},
                      {"type", l.type},
                      {"output_shape", l.output_shape},
                      {"params", l.params},
                      {"macs", l.macs}});
  }
  return {{"arch", m.arch},
          {"input_shape", {1, chw[0], chw[1], chw[2]}},
          {"num_classes", num_classes(stats.layers.back().output_shape)},
          {"params", stats.params},
          {"macs", stats.macs},
          {"layers", layers}};
}

void print_table(const ModelOptions& m, const std::array<int64_t, 3>& chw, const ModelStats& stats) {
  const std::string rule(100, '=');
  std::cout << rule << "\n"
            << fmt::format("{:<40} {:<18} {:<20} {:>10} {:>12}\n", "Layer (path)", "Type", "Output shape",
                           "Param #", "MACs")
            << rule << "\n";
  for (const LayerStats& l : stats.layers) {
    std::cout << fmt::format("{:<40} {:<18} {:<20} {:>10} {:>12}\n", l.path, l.type,
                             shape_str(l.output_shape), with_commas(l.params), with_commas(l.macs));
  }
  std::cout << rule << "\n"
            << fmt::format("{} with input [1,{},{},{}]\n", m.arch, chw[0], chw[1], chw[2])
            << fmt::format("Total params: {}\n", with_commas(stats.params))
            << fmt::format("Total MACs (conv + linear): {}\n", with_commas(stats.macs)) << rule << "\n";
}

std::string default_input(const ModelOptions& m) {
  const int size = is_unet_name(m.arch) ? 224 : zoo_default_image_size(m.arch);
  return fmt::format("{}x{}x{}", m.in_channels, size, size);
}

}  // namespace

void register_summary(CLI::App& app) {
  auto o = std::make_shared<SummaryOptions>();
  auto* cmd = app.add_subcommand("summary", "per-layer output shapes, parameters and MACs (torchinfo-like)");
  add_model_options(*cmd, o->model, false);
  cmd->add_option("--input", o->input,
                  "input size CxHxW (default: <in-channels>x224x224; x32x32 for the CIFAR networks)");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_flag("--features", o->features, "list each stage's channels, reduction and feature shape instead");
  add_backbone_options(*cmd, o->model);
  cmd->callback([o, cmd] {
    apply_threads(0);
    const auto chw = parse_chw(o->input.empty() ? default_input(o->model) : o->input, "--input");
    if (chw[0] != o->model.in_channels) {
      if (cmd->count("--in-channels") > 0) {
        throw InputError(fmt::format("--input {} has {} channels but --in-channels is {}", o->input, chw[0],
                                     o->model.in_channels));
      }
      o->model.in_channels = static_cast<int>(chw[0]);
    }
    if (o->features) {
      auto backbone = build_model(o->model, Init::none);
      return print_feature_summary(*backbone, o->model.arch, chw, o->json);
    }
    auto model = build_any_model(o->model, Init::none);
    ModelStats stats = collect_model_stats(*model, chw[0], chw[1], chw[2]);
    if (o->json) {
      std::cout << to_json(o->model, chw, stats).dump(2) << "\n";
    } else {
      print_table(o->model, chw, stats);
    }
  });
}

void register_print(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  auto* cmd = app.add_subcommand("print", "the module tree, as PyTorch's print(model)");
  add_model_options(*cmd, *o, false);
  cmd->callback([o] { std::cout << module_repr(*build_any_model(*o, Init::none)) << "\n"; });
}

}  // namespace resnet::cli
