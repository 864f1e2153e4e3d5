#include "cli/common.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>

#include "dnnl/ops.h"
#include "resnet/error.h"
#include "resnet/int8_weights.h"
#include "resnet/load_state_dict.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"

namespace resnet::cli {

void add_model_options(CLI::App& cmd, ModelOptions& o, bool with_weights) {
  cmd.add_option("--arch", o.arch, "architecture (see `resnet list`)")->required();
  cmd.add_option("--num-classes", o.num_classes, "classifier outputs (default: 1000; 10 for CIFAR networks)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--in-channels", o.in_channels, "input image channels")->capture_default_str();
  cmd.add_option("--seed", o.seed, "seed of the torchvision-style initialisation")->capture_default_str();
  if (with_weights) {
    cmd.add_option("--weights", o.weights,
                   "weights: torchvision .pth or .safetensors (default: seeded init)");
    cmd.add_flag("--non-strict", o.non_strict, "load what matches and report the rest");
  }
}

StateDict load_model_weights(const std::string& path, std::shared_ptr<const Int8Calibration>* int8) {
  StateDict tensors = load_weights(path);
  const bool quantized = std::any_of(tensors.begin(), tensors.end(),
                                     [](const NamedTensor& nt) { return nt.name.starts_with("quant."); });
  std::optional<Int8Calibration> calibration = take_int8_calibration(
      tensors, quantized ? load_safetensors_metadata(path) : std::map<std::string, std::string>{}, path);
  if (int8 != nullptr && calibration)
    *int8 = std::make_shared<const Int8Calibration>(std::move(*calibration));
  return tensors;
}

std::unique_ptr<ResNet> build_model(const ModelOptions& o, Init init,
                                    std::shared_ptr<const Int8Calibration>* int8) {
  auto model = std::make_unique<ResNet>(zoo_config(o.arch, o.num_classes, o.in_channels), o.seed, init);
  if (!o.weights.empty())
    load_into_model(*model, load_model_weights(o.weights, int8), o.weights, o.non_strict);
  model->set_training(false);
  return model;
}

void load_into_model(ResNet& model, const StateDict& weights, const std::string& source, bool non_strict) {
  LoadReport report = load_state_dict(model, weights, !non_strict, source);
  if (!report.clean()) std::cerr << fmt::format("resnet: warning: {}: {}\n", source, report.describe());
}

void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("--threads", threads, "compute threads (default: all cores)")->check(CLI::PositiveNumber);
}

void apply_threads(int threads) {
  ops::set_num_threads(threads);
}

std::array<int64_t, 3> parse_chw(const std::string& text, const std::string& flag) {
  std::array<int64_t, 3> out{};
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    size_t end = i < 2 ? text.find('x', at) : text.size();
    if (end == std::string::npos) end = text.size();
    const char* first = text.data() + at;
    const char* last = text.data() + end;
    auto [ptr, ec] = std::from_chars(first, last, out[i]);
    if (ec != std::errc() || ptr != last || out[i] < 1 || (i < 2 && end == text.size())) {
      throw InputError(
          fmt::format("{} '{}': expected CxHxW with positive integers, e.g. 3x224x224", flag, text));
    }
    at = end + 1;
  }
  return out;
}

}  // namespace resnet::cli

namespace resnet::cli {

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

}  // namespace resnet::cli
