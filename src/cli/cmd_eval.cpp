// resnet eval --arch A --weights F --dataset D [--data DIR] [--json] [--confusion-png F] [--show N]
// Top-1, top-5, per-class accuracy and the confusion matrix of trained weights on a dataset's test split.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/load_state_dict.h"
#include "resnet/train.h"

namespace resnet::cli {
namespace {

struct EvalFlags {
  std::string arch, weights, dataset, data_dir, stem, split = "test", confusion_png;
  int image_size = 0;
  int64_t batch_size = 256, subset = 0;
  int threads = 0, workers = 2, show = 0;
  bool json = false;
};

struct Prediction {
  int64_t index = 0, label = 0, predicted = 0;
  double probability = 0.0;  // softmax probability of the predicted class
};

Prediction predict_row(const float* row, int64_t classes) {
  Prediction p;
  p.predicted = std::max_element(row, row + classes) - row;
  double sum = 0.0;
  for (int64_t c = 0; c < classes; ++c) sum += std::exp(double(row[c]) - double(row[p.predicted]));
  p.probability = 1.0 / sum;
  return p;
}

void print_text(const EvalFlags& f, const EvalResult& r, const std::vector<Prediction>& shown) {
  const std::vector<std::string>& names = r.class_names;
  std::cout << fmt::format("{} on {} {} ({} images): top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}\n", f.arch,
                           f.dataset, f.split, r.count, 100 * r.top1(), 100 * r.top5(), r.loss);
  size_t width = 5;
  for (const std::string& n : names) width = std::max(width, n.size());
  std::cout << "\nper-class accuracy:\n";
  for (size_t c = 0; c < names.size(); ++c) {
    std::cout << fmt::format("  {:>3} {:<{}}  {:6.2f}%  ({} images)\n", c, names[c], width,
                             100 * r.class_accuracy(c), r.class_count(c));
  }
  std::cout << "\nconfusion matrix (rows: true class, columns: predicted class):\n";
  int64_t most = 1;
  for (const auto& row : r.confusion) most = std::max(most, *std::max_element(row.begin(), row.end()));
  const size_t cell =
      std::max<size_t>(std::to_string(most).size(), std::to_string(names.size() - 1).size()) + 1;
  std::string header = fmt::format("  {:>3} {:<{}} ", "", "", width);
  for (size_t c = 0; c < names.size(); ++c) header += fmt::format("{:>{}}", c, cell);
  std::cout << header << "\n";
  for (size_t t = 0; t < names.size(); ++t) {
    std::string line = fmt::format("  {:>3} {:<{}} ", t, names[t], width);
    for (int64_t v : r.confusion[t]) line += fmt::format("{:>{}}", v, cell);
    std::cout << line << "\n";
  }
  if (!shown.empty()) std::cout << fmt::format("\nthe first {} {} images:\n", shown.size(), f.split);
  for (const Prediction& p : shown) {
    std::cout << fmt::format("  image {:>5}: {:<{}}  predicted {:<{}} ({:5.1f}%)  {}\n", p.index,
                             names[size_t(p.label)], width, names[size_t(p.predicted)], width,
                             100 * p.probability, p.label == p.predicted ? "right" : "WRONG");
  }
}

nlohmann::json to_json(const EvalFlags& f, const EvalResult& r, const std::vector<Prediction>& shown) {
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t c = 0; c < r.class_names.size(); ++c) {
    per_class.push_back({{"index", c},
                         {"class", r.class_names[c]},
                         {"count", r.class_count(c)},
                         {"accuracy", r.class_accuracy(c)}});
  }
  nlohmann::json predictions = nlohmann::json::array();
  for (const Prediction& p : shown) {
    predictions.push_back({{"index", p.index},
                           {"label", p.label},
                           {"predicted", p.predicted},
                           {"class", r.class_names[size_t(p.predicted)]},
                           {"probability", p.probability}});
  }
  nlohmann::json out = {{"arch", f.arch},         {"weights", f.weights},    {"dataset", f.dataset},
                        {"split", f.split},       {"count", r.count},        {"loss", r.loss},
                        {"top1", r.top1()},       {"top5", r.top5()},        {"class_names", r.class_names},
                        {"per_class", per_class}, {"confusion", r.confusion}};
  if (!shown.empty()) out["predictions"] = predictions;
  return out;
}

void run_eval(const EvalFlags& f) {
  if (f.split != "test" && f.split != "train")
    throw InputError(fmt::format("--split {}: expected test or train", f.split));
  if (f.batch_size < 1) throw InputError(fmt::format("--batch-size {}: must be at least 1", f.batch_size));
  if (f.subset < 0 || f.show < 0 || f.workers < 0 || f.image_size < 0) {
    throw InputError("--subset, --show, --workers and --image-size must be >= 0");
  }
  if (!f.confusion_png.empty() && !f.confusion_png.ends_with(".png")) {
    throw InputError(fmt::format("--confusion-png {}: the file name must end in .png", f.confusion_png));
  }
  apply_threads(f.threads);
  std::shared_ptr<const Dataset> data =
      open_dataset(f.dataset, f.data_dir, f.split == "train" ? Split::train : Split::test);
  ResNet model(model_config_for(f.arch, f.stem, data->info()));
  // An .int8.safetensors file (resnet quantize) evaluates as the f32 model it holds.
  load_state_dict(model, load_model_weights(f.weights, nullptr), true, f.weights);
  Loader loader(data, eval_transform(data->info(), f.image_size),
                {.batch_size = f.batch_size, .shuffle = false, .threads = f.workers, .subset = f.subset});

  std::vector<Prediction> shown;
  const EvalResult result = evaluate(model, loader, 0.0, [&](const Batch& batch, const Tensor& logits) {
    const int64_t classes = logits.dim(1);
    for (size_t i = 0; i < batch.labels.size() && shown.size() < size_t(f.show); ++i) {
      Prediction p = predict_row(logits.f32() + int64_t(i) * classes, classes);
      p.index = batch.samples[i];
      p.label = batch.labels[i];
      shown.push_back(p);
    }
  });
  if (!f.confusion_png.empty()) {
    write_confusion_png(
        result, f.confusion_png,
        fmt::format("{} on {} {}: top-1 {:.2f}%", f.arch, f.dataset, f.split, 100 * result.top1()));
  }
  if (f.json) {
    std::cout << to_json(f, result, shown).dump() << "\n";
  } else {
    print_text(f, result, shown);
    if (!f.confusion_png.empty()) std::cout << fmt::format("\nconfusion matrix image: {}\n", f.confusion_png);
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand("eval", "top-1/top-5, per-class accuracy and confusion matrix on a dataset");
  cmd->add_option("--arch", f->arch, "architecture (see `resnet list`)")->required();
  cmd->add_option("--weights", f->weights, "weights: .safetensors (e.g. best.safetensors of a run) or .pth")
      ->required();
  cmd->add_option("--dataset", f->dataset, "fashion-mnist | mnist | cifar10 | cifar100 | folder")->required();
  cmd->add_option("--data", f->data_dir,
                  "dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--stem", f->stem, "imagenet | cifar, as the model was trained (default: the arch's own)");
  cmd->add_option("--image-size", f->image_size, "as in training (default: the dataset's; folders 224)");
  cmd->add_option("--split", f->split, "test | train")->capture_default_str();
  cmd->add_option("--subset", f->subset, "only the first N images (0 = all)")->capture_default_str();
  cmd->add_option("--batch-size", f->batch_size, "images per forward pass")->capture_default_str();
  add_threads_option(*cmd, f->threads);
  cmd->add_option("--workers", f->workers, "data loader threads")->capture_default_str();
  cmd->add_option("--show", f->show, "print the predictions for the first N images")->capture_default_str();
  cmd->add_option("--confusion-png", f->confusion_png, "also draw the confusion matrix into this PNG");
  cmd->add_flag("--json", f->json, "print one JSON object (top1, top5 as fractions, per_class, confusion)");
  cmd->callback([f] { run_eval(*f); });
}

}  // namespace resnet::cli
