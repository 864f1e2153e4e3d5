// resnet list [--json]: the architectures with parameters and MACs at their natural input (224 or 32 pixels).
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/model_stats.h"
#include "resnet/unet.h"
#include "resnet/zoo.h"

namespace resnet::cli {

void register_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list",
                                 "the architectures, with parameters and MACs (1x3x224x224; 1x3x32x32 for "
                                 "CIFAR networks); then the U-Nets (not in --json)");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print JSON");
  cmd->callback([json] {
    apply_threads(0);
    nlohmann::json out = nlohmann::json::array();
    if (!*json)
      std::cout << fmt::format("{:<20} {:>14} {:>16}  {}\n", "architecture", "params", "MACs", "input");
    // One row: the model's parameters and MACs at 3 x size x size.
    auto report = [&](const std::string& name, Module& model, int size) {
      ModelStats stats = collect_model_stats(model, 3, size, size);
      if (*json) {
        out.push_back({{"arch", name},
                       {"params", stats.params},
                       {"macs", stats.macs},
                       {"input_shape", {1, 3, size, size}}});
      } else {
        std::cout << fmt::format("{:<20} {:>14} {:>16}  3x{}x{}\n", name, with_commas(stats.params),
                                 with_commas(stats.macs), size, size);
      }
    };
    for (const std::string& name : zoo_names()) {
      ResNet model(zoo_config(name), 0, Init::none);
      report(name, model, zoo_default_image_size(name));
    }
    // The U-Nets with smp's defaults (depth 5, one class), in the table only: the --json array keeps the
    // classifiers it has always listed.
    for (const std::string& name : *json ? std::vector<std::string>{} : unet_zoo_names()) {
      UNet model(unet_zoo_config(name), 0, Init::none);
      report(name, model, 224);
    }
    if (*json) std::cout << out.dump(2) << "\n";
  });
}

}  // namespace resnet::cli
