#include "cli/common.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "dnnl/bf16_speed.h"
#include "dnnl/ops.h"
#include "resnet/error.h"
#include "resnet/int8_weights.h"
#include "resnet/load_state_dict.h"
#include "resnet/plan.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "train/checkpoint.h"

namespace resnet::cli {

void add_model_options(CLI::App& cmd, ModelOptions& o, bool with_weights) {
  cmd.add_option("--arch", o.arch, "architecture (see `resnet list`)")->required();
  cmd.add_option("--num-classes", o.num_classes, "classifier outputs (default: 1000; 10 for CIFAR networks)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--in-channels", o.in_channels, "input image channels")->capture_default_str();
  cmd.add_option("--seed", o.seed, "seed of the torchvision-style initialisation")->capture_default_str();
  cmd.add_option("--encoder-depth", o.encoder_depth,
                 "U-Nets: encoder stages the decoder uses, 3..5 (default 5)");
  cmd.add_option("--decoder-channels", o.decoder_channels,
                 "U-Nets: channels of each decoder block, a,b,... (default 256,128,64,32,16, one per depth)");
  if (with_weights) {
    cmd.add_option("--weights", o.weights,
                   "weights: torchvision .pth or .safetensors (default: seeded init)");
    cmd.add_flag("--non-strict", o.non_strict, "load what matches and report the rest");
  }
}

void add_backbone_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("--stem", o.stem, "imagenet | cifar (default: the architecture's own)");
  cmd.add_option("--dilation", o.dilation,
                 "a,b,c (each 0 or 1): replace the stride of stages 2, 3, 4 with dilation, as torchvision's "
                 "replace_stride_with_dilation");
}

std::array<bool, 3> parse_dilation(const std::string& text) {
  std::array<bool, 3> out{};
  const bool well_formed = text.size() == 5 && text[1] == ',' && text[3] == ',';
  for (size_t i = 0; well_formed && i < 3; ++i) {
    const char c = text[2 * i];
    if (c != '0' && c != '1') break;
    out[i] = c == '1';
    if (i == 2) return out;
  }
  throw InputError(fmt::format("--dilation {}: expected three 0/1 values, e.g. 0,1,1", text));
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

namespace {

// "256,128,64" -> {256, 128, 64}
std::vector<int> parse_channel_list(const std::string& text) {
  std::vector<int> values;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + at, text.data() + end, value);
    if (ec != std::errc() || ptr != text.data() + end || value < 1) {
      throw InputError(fmt::format(
          "--decoder-channels '{}': expected positive integers a,b,..., e.g. 256,128,64,32,16", text));
    }
    values.push_back(value);
    at = end + 1;
  }
  return values;
}

// Weights into a freshly built model, then eval mode.
template <class M>
std::unique_ptr<M> finish_model(std::unique_ptr<M> model, const ModelOptions& o,
                                std::shared_ptr<const Int8Calibration>* int8) {
  if (!o.weights.empty())
    load_into_model(*model, load_model_weights(o.weights, int8), o.weights, o.non_strict);
  model->set_training(false);
  return model;
}

}  // namespace

UNetConfig unet_config(const ModelOptions& o) {
  return unet_zoo_config(
      o.arch, o.num_classes, o.in_channels, o.encoder_depth > 0 ? o.encoder_depth : 5,
      o.decoder_channels.empty() ? std::vector<int>{} : parse_channel_list(o.decoder_channels));
}

std::unique_ptr<ResNet> build_model(const ModelOptions& o, Init init,
                                    std::shared_ptr<const Int8Calibration>* int8) {
  if (is_unet_name(o.arch))
    throw InputError(fmt::format("--arch {}: this subcommand takes classifiers only, not U-Nets", o.arch));
  if (o.encoder_depth > 0 || !o.decoder_channels.empty()) {
    throw InputError(fmt::format(
        "--arch {}: --encoder-depth and --decoder-channels apply to U-Nets (unet-...) only", o.arch));
  }
  ResNetConfig config = zoo_config(o.arch, o.num_classes, o.in_channels);
  apply_stem(config, o.stem);
  if (!o.dilation.empty()) {
    config.replace_stride_with_dilation = parse_dilation(o.dilation);
    const auto& d = config.replace_stride_with_dilation;
    if (config.block == BlockKind::basic && (d[0] || d[1] || d[2])) {
      throw InputError(fmt::format("--dilation {}: {} has basic blocks, which torchvision does not dilate",
                                   o.dilation, o.arch));
    }
  }
  return finish_model(std::make_unique<ResNet>(config, o.seed, init), o, int8);
}

std::unique_ptr<Module> build_any_model(const ModelOptions& o, Init init,
                                        std::shared_ptr<const Int8Calibration>* int8) {
  if (!is_unet_name(o.arch)) return build_model(o, init, int8);
  if (!o.stem.empty() || !o.dilation.empty())
    throw InputError(fmt::format("--arch {}: --stem and --dilation apply to classifiers only", o.arch));
  return finish_model(std::make_unique<UNet>(unet_config(o), o.seed, init), o, int8);
}

void load_into_model(Module& model, const StateDict& weights, const std::string& source, bool non_strict) {
  LoadReport report = load_state_dict(model, weights, !non_strict, source);
  if (!report.clean()) std::cerr << fmt::format("resnet: warning: {}: {}\n", source, report.describe());
}

namespace fs = std::filesystem;

// A config.json that is not a run's (another tool's, e.g. a Hugging Face folder) is ignored with a warning.
std::optional<RunRecord> find_run(const std::string& weights_path) {
  const RunFiles files(fs::path(weights_path).parent_path().string());
  if (!fs::exists(files.config_json())) return std::nullopt;
  TrainConfig config;
  try {
    config = read_run_config(files);
  } catch (const InputError& e) {
    std::cerr << fmt::format("resnet: warning: ignoring {} (not a `resnet train` run's config: {})\n",
                             files.config_json(), e.what());
    return std::nullopt;
  }
  return RunRecord{config, read_run_dataset_info(files)};
}

namespace {

// The dimension `dim` of the tensor `name` in the weights file, or `fallback` if it has none.
int64_t weight_dim(const StateDict& weights, const std::string& name, int dim, int64_t fallback) {
  for (const NamedTensor& t : weights) {
    if (t.name == name && t.tensor.rank() > dim) return t.tensor.dim(dim);
  }
  return fallback;
}

}  // namespace

std::unique_ptr<ResNet> build_model_for_weights(const std::string& arch, const StateDict& weights,
                                                const std::string& source,
                                                const std::optional<RunRecord>& run) {
  const int64_t classes = weight_dim(weights, "fc.weight", 0, 0);
  const int channels = int(weight_dim(weights, "conv1.weight", 1, 3));
  ResNetConfig config = zoo_config(arch, int(classes), channels);
  if (run) apply_stem(config, run->config.stem);
  auto model = std::make_unique<ResNet>(config, 0, Init::none);
  load_into_model(*model, weights, source, false);
  model->set_training(false);
  return model;
}

DatasetInfo input_conventions(const std::string& weights_path, const std::optional<RunRecord>& run,
                              int channels) {
  if (run && run->data) {
    if (run->data->channels != channels) {
      throw InputError(fmt::format("{}: {} has {} input channels, the run's config.json says {}",
                                   weights_path, "conv1.weight", channels, run->data->channels));
    }
    return *run->data;
  }
  if (channels != 3) {
    throw InputError(fmt::format(
        "{}: a {}-channel model needs its dataset's normalisation, and no config.json with \"dataset_info\" "
        "lies beside it (the run folder of `resnet train`)",
        weights_path, channels));
  }
  return imagenet_info();
}

namespace {

std::vector<std::string> read_label_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("--labels {}: cannot open the file", path));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  return names;
}

}  // namespace

std::vector<std::string> choose_labels(const std::string& labels_flag, const std::string& weights_path,
                                       const std::optional<RunRecord>& run, int64_t classes) {
  std::vector<std::string> names;
  std::string source;
  if (labels_flag == "imagenet") {
    names = imagenet_class_names();
    source = "--labels imagenet";
  } else if (!labels_flag.empty()) {
    names = read_label_file(labels_flag);
    source = "--labels " + labels_flag;
  } else if (run && run->data) {
    names = run->data->class_names;
    source = RunFiles(fs::path(weights_path).parent_path().string()).config_json();
  } else if (classes == 1000) {
    return imagenet_class_names();
  } else {
    return {};
  }
  if (int64_t(names.size()) != classes) {
    throw InputError(fmt::format("{}: {} class names for a model of {} classes ({})", source, names.size(),
                                 classes, weights_path));
  }
  return names;
}

// S = --size, else the side the model learnt from (the run's --image-size, else its dataset's; 224 for
// ImageNet and folders). Any-size datasets (ImageNet, folders): torchvision's Resize(S * 256 / 224) +
// CenterCrop(S), as their evaluation. Fixed-size datasets (Fashion-MNIST, CIFAR): Resize(S) + CenterCrop(S),
// so an image of the size the model saw in training is left as it is.
TransformSpec predict_transform(const DatasetInfo& data, const std::optional<RunRecord>& run, int size_flag) {
  const int trained = run && run->config.image_size > 0 ? run->config.image_size : data.image_size;
  const int size = size_flag > 0 ? size_flag : trained > 0 ? trained : 224;
  if (data.image_size == 0) return eval_transform(data, size);
  TransformSpec spec;
  spec.resize = size;
  spec.center_crop = size;
  spec.mean = data.mean;
  spec.std = data.std;
  return spec;
}

std::vector<std::string> expand_image_inputs(const std::vector<std::string>& inputs, int& failures) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);
      continue;
    }
    std::vector<std::string> found = find_images(input);
    if (found.empty()) {
      std::cerr << fmt::format("resnet: error: {}: no .jpg, .jpeg or .png files in this folder\n", input);
      ++failures;
    }
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("--threads", threads, "compute threads (default: all cores)")->check(CLI::PositiveNumber);
}

void add_plan_flags(CLI::App& cmd, bool& no_fuse, bool& no_winograd) {
  cmd.add_flag("--no-fuse", no_fuse, "run the model layer by layer instead of the compiled plan");
  cmd.add_flag("--no-winograd", no_winograd,
               "f32 plan: run 3x3 stride-1 convolutions directly instead of as Winograd F(4x4,3x3)");
}

void add_tune_flags(CLI::App& cmd, TuneFlags& flags, bool on_when_cached) {
  auto* tune =
      cmd.add_flag("--tune", flags.tune,
                   on_when_cached ? "time each convolution's candidate kernels at plan build and keep the "
                                    "fastest (cached per machine; default: on when the cache has this "
                                    "machine)"
                                  : "time each convolution's candidate kernels at plan build and keep the "
                                    "fastest (cached per machine)");
  auto* no_tune =
      cmd.add_flag("--no-tune", flags.no_tune, "do not tune: oneDNN's first choice and the Winograd rule");
  tune->excludes(no_tune);
}

bool want_tuning(const TuneFlags& flags, bool on_when_cached) {
  if (flags.tune) return true;
  if (flags.no_tune) return false;
  return on_when_cached && tuning_cache_has_this_machine();
}

void note_if_bf16_is_slower(std::string_view flag) {
  if (const std::optional<std::string> why = onednn::bf16_slower_than_f32(onednn::this_cpu())) {
    std::cerr << fmt::format(
        "resnet: note: {} bf16 is slower than f32 on this machine: {}; f32 is faster here\n", flag, *why);
  }
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
