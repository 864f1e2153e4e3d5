// resnet predict --arch A --weights W [--labels imagenet|FILE] [--top-k 5] [--size 224] [--dtype
// f32|bf16|int8]
//                [--batch 16] [--json] [--threads T] IMAGE|DIR ...
// Classifies JPEG and PNG photos (directories: every .jpg/.jpeg/.png under them, sorted) with torchvision's
// evaluation transform and prints the top-k classes with softmax probabilities. A file that cannot be read
// gets one line on stderr; the others are still classified, and the exit status is 2.
//
// Where the model's input conventions come from: when a config.json lies beside the weights (a run folder of
// `resnet train`), its "dataset_info" gives the class names, the channels, the Normalize statistics and the
// image size, and its "stem" the model's stem; otherwise the model is an ImageNet classifier (3 channels,
// ImageNet's mean/std, the 1000 ImageNet names when it has 1000 classes). The class count and input channels
// are read off the weights (fc.weight, conv1.weight).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/predict.h"
#include "resnet/zoo.h"
#include "train/checkpoint.h"

namespace resnet::cli {
namespace {

namespace fs = std::filesystem;

struct PredictFlags {
  std::string arch, weights, labels, dtype = "f32";
  int top_k = 5;
  int size = 0;  // 0: 224, or the run's image size
  int64_t batch = 16;
  bool json = false;
  int threads = 0;
  std::vector<std::string> inputs;
};

// The run folder of `resnet train` the weights file lies in, if it is one.
struct RunRecord {
  TrainConfig config;
  std::optional<DatasetInfo> data;  // absent in runs written before config.json recorded it
};

// A config.json that is not a run's (another tool's, e.g. a Hugging Face folder) is ignored with a warning.
std::optional<RunRecord> find_run(const std::string& weights) {
  const RunFiles files(fs::path(weights).parent_path().string());
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

// The dimension `dim` of the tensor `name` in the weights file, or `fallback` if it has none.
int64_t weight_dim(const StateDict& weights, const std::string& name, int dim, int64_t fallback) {
  for (const NamedTensor& t : weights) {
    if (t.name == name && t.tensor.rank() > dim) return t.tensor.dim(dim);
  }
  return fallback;
}

// What the images must look like for this model: channels, Normalize statistics, image size and class names.
DatasetInfo input_conventions(const PredictFlags& f, const std::optional<RunRecord>& run, int channels) {
  if (run && run->data) {
    if (run->data->channels != channels) {
      throw InputError(fmt::format("{}: {} has {} input channels, the run's config.json says {}", f.weights,
                                   "conv1.weight", channels, run->data->channels));
    }
    return *run->data;
  }
  if (channels != 3) {
    throw InputError(fmt::format(
        "{}: a {}-channel model needs its dataset's normalisation, and no config.json with \"dataset_info\" "
        "lies beside it (the run folder of `resnet train`)",
        f.weights, channels));
  }
  return imagenet_info();
}

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

// --labels imagenet | FILE; else the run's class names; else ImageNet's for 1000 classes; else none
// (indices).
std::vector<std::string> choose_labels(const PredictFlags& f, const std::optional<RunRecord>& run,
                                       int64_t classes) {
  std::vector<std::string> names;
  std::string source;
  if (f.labels == "imagenet") {
    names = imagenet_class_names();
    source = "--labels imagenet";
  } else if (!f.labels.empty()) {
    names = read_label_file(f.labels);
    source = "--labels " + f.labels;
  } else if (run && run->data) {
    names = run->data->class_names;
    source = RunFiles(fs::path(f.weights).parent_path().string()).config_json();
  } else if (classes == 1000) {
    return imagenet_class_names();
  } else {
    return {};
  }
  if (int64_t(names.size()) != classes) {
    throw InputError(fmt::format("{}: {} class names for a model of {} classes ({})", source, names.size(),
                                 classes, f.weights));
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

// The files to classify: each IMAGE as given, each DIR's images (find_images). A DIR without images is an
// error line.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, int& failures) {
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

void print_text(const ImagePrediction& p, bool indices_only) {
  size_t index_width = 1;
  for (const ClassScore& s : p.top) index_width = std::max(index_width, std::to_string(s.index).size());
  std::string out = p.file + "\n";
  for (const ClassScore& s : p.top) {
    out += indices_only ? fmt::format("  {:.4f}  {:>{}}\n", s.probability, s.index, index_width)
                        : fmt::format("  {:.4f}  {:>{}}  {}\n", s.probability, s.index, index_width, s.label);
  }
  std::cout << out << std::flush;
}

void print_json(const ImagePrediction& p) {
  nlohmann::json top = nlohmann::json::array();
  for (const ClassScore& s : p.top)
    top.push_back({{"class", s.index}, {"label", s.label}, {"prob", s.probability}});
  std::cout << nlohmann::json{{"file", p.file}, {"top", top}}.dump() << "\n" << std::flush;
}

void run_predict(const PredictFlags& f) {
  apply_threads(f.threads);
  const Precision precision = parse_precision(f.dtype);
  std::shared_ptr<const Int8Calibration> int8;
  const StateDict weights = load_model_weights(f.weights, &int8);
  if (precision == Precision::int8 && int8 == nullptr) {
    throw InputError(fmt::format(
        "--dtype int8 needs calibrated activation scales, and {} has none: make an .int8.safetensors file "
        "with `resnet quantize`",
        f.weights));
  }
  const std::optional<RunRecord> run = find_run(f.weights);
  const int64_t classes = weight_dim(weights, "fc.weight", 0, 0);
  const int channels = int(weight_dim(weights, "conv1.weight", 1, 3));
  ResNetConfig config = zoo_config(f.arch, int(classes), channels);
  if (run) apply_stem(config, run->config.stem);
  auto model = std::make_unique<ResNet>(config, 0, Init::none);
  load_into_model(*model, weights, f.weights, false);
  model->set_training(false);

  const DatasetInfo data = input_conventions(f, run, channels);
  PredictOptions options{.transform = predict_transform(data, run, f.size),
                         .channels = channels,
                         .labels = choose_labels(f, run, config.num_classes),
                         .top_k = f.top_k,
                         .batch_size = f.batch,
                         .precision = precision};
  if (precision == Precision::int8) options.plan.int8 = int8;
  const bool indices_only = options.labels.empty();

  int failures = 0;
  const std::vector<std::string> files = expand_inputs(f.inputs, failures);
  ImageClassifier classifier(*model, std::move(options));
  classifier.classify(files, [&](const ImagePrediction& p) {
    if (!p.error.empty()) {
      std::cerr << fmt::format("resnet: error: {}\n", p.error);
      ++failures;
    } else if (f.json) {
      print_json(p);
    } else {
      print_text(p, indices_only);
    }
  });
  if (failures > 0) throw ExitStatus{2};
}

}  // namespace

void register_predict(CLI::App& app) {
  auto f = std::make_shared<PredictFlags>();
  auto* cmd =
      app.add_subcommand("predict", "classify JPEG and PNG photos: top-k class names and probabilities");
  cmd->add_option("--arch", f->arch, "architecture (see `resnet list`)")->required();
  cmd->add_option(
         "--weights", f->weights,
         "weights: torchvision .pth, .safetensors, a `resnet train` run's best/last.safetensors or a "
         "`resnet quantize` .int8.safetensors")
      ->required();
  cmd->add_option("--labels", f->labels,
                  "class names: imagenet (built in) or a file with one name per line (default: the run's "
                  "names, or imagenet for 1000 classes, else class indices)");
  cmd->add_option("--top-k", f->top_k, "classes shown per image")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--size", f->size,
                  "crop size S: Resize(S*256/224) + CenterCrop(S) (default: 224, or the run's image size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", f->dtype,
                  "compute precision: f32, bf16 or int8 (int8: weights from resnet quantize)")
      ->capture_default_str();
  cmd->add_option("--batch", f->batch, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", f->json, "one JSON object per image and line instead of text");
  add_threads_option(*cmd, f->threads);
  cmd->add_option("inputs", f->inputs, "image files (.jpg, .jpeg, .png) and folders of them")->required();
  cmd->callback([f] { run_predict(*f); });
}

}  // namespace resnet::cli
