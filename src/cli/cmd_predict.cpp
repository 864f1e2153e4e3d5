// resnet predict --arch A --weights W [--labels imagenet|FILE] [--top-k 5] [--size 224] [--dtype
// f32|bf16|int8]
//                [--batch 16] [--json] [--threads T] IMAGE|DIR ...
// Classifies JPEG and PNG photos (directories: every .jpg/.jpeg/.png under them, sorted) with torchvision's
// evaluation transform and prints the top-k classes with softmax probabilities. A file that cannot be read
// gets one line on stderr; the others are still classified, and the exit status is 2.
//
// Where the model's input conventions come from: see "Image models" in cli/common.h.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/predict.h"

namespace resnet::cli {
namespace {

struct PredictFlags {
  std::string arch, weights, labels, dtype = "f32";
  int top_k = 5;
  int size = 0;  // 0: 224, or the run's image size
  int64_t batch = 16;
  bool json = false;
  int threads = 0;
  std::vector<std::string> inputs;
  TuneFlags tune;
};

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
  if (precision == Precision::bf16) note_if_bf16_is_slower("--dtype");
  std::shared_ptr<const Int8Calibration> int8;
  const StateDict weights = load_model_weights(f.weights, &int8);
  if (precision == Precision::int8 && int8 == nullptr) {
    throw InputError(fmt::format(
        "--dtype int8 needs calibrated activation scales, and {} has none: make an .int8.safetensors file "
        "with `resnet quantize`",
        f.weights));
  }
  const std::optional<RunRecord> run = find_run(f.weights);
  std::unique_ptr<ResNet> model = build_model_for_weights(f.arch, weights, f.weights, run);
  const int channels = model->config().in_channels;

  const DatasetInfo data = input_conventions(f.weights, run, channels);
  PredictOptions options{.transform = predict_transform(data, run, f.size),
                         .channels = channels,
                         .labels = choose_labels(f.labels, f.weights, run, model->config().num_classes),
                         .top_k = f.top_k,
                         .batch_size = f.batch,
                         .precision = precision};
  if (precision == Precision::int8) options.plan.int8 = int8;
  options.plan.tune = want_tuning(f.tune, false);
  const bool indices_only = options.labels.empty();

  int failures = 0;
  const std::vector<std::string> files = expand_image_inputs(f.inputs, failures);
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
  add_tune_flags(*cmd, f->tune, false);
  cmd->add_option("inputs", f->inputs, "image files (.jpg, .jpeg, .png) and folders of them")->required();
  cmd->callback([f] { run_predict(*f); });
}

}  // namespace resnet::cli
