// resnet convert IN OUT: .pth -> .safetensors, .safetensors -> .safetensors (re-validated on the way). An
// .int8.safetensors becomes the plain f32 state_dict of its weights (the s8 conv weights times their scales).
#include <fmt/format.h>

#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/weights.h"

namespace resnet::cli {

void register_convert(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("convert", "convert a torchvision .pth or a .safetensors file to .safetensors");
  cmd->add_option("IN", *in, "input weights (.pth or .safetensors)")->required();
  cmd->add_option("OUT", *out, "output .safetensors")->required();
  cmd->callback([in, out] {
    if (!out->ends_with(".safetensors")) {
      throw InputError(fmt::format("{}: the output must be a .safetensors file", *out));
    }
    StateDict tensors = load_model_weights(*in, nullptr);
    save_safetensors(tensors, *out, {{"format", "pt"}, {"source", "resnet.cpp convert"}});
    std::cout << fmt::format("wrote {} tensors to {}\n", tensors.size(), *out);
  });
}

}  // namespace resnet::cli
