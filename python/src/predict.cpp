// resnet_cpp.predict(model, files, top_k=5): JPEG/PNG photos through torchvision's evaluation transform
// (Resize(size * 256 / 224) + CenterCrop(size), ImageNet's mean and std) and an InferencePlan, to the top-k
// classes with softmax probabilities -- the library's ImageClassifier (resnet/predict.h), as `resnet
// predict`.
#include "resnet/predict.h"

#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet::python {

using namespace nb::literals;

namespace {

// labels: None = ImageNet's names for a 1000-class model, else class indices; a list = one name per class.
std::vector<std::string> choose_labels(const Model& m,
                                       const std::optional<std::vector<std::string>>& labels) {
  if (labels) {
    if (static_cast<int>(labels->size()) != m.num_classes()) {
      throw InputError(
          fmt::format("labels: {} names for a model of {} classes", labels->size(), m.num_classes()));
    }
    return *labels;
  }
  return m.num_classes() == 1000 ? imagenet_class_names() : std::vector<std::string>{};
}

// One dict per file, as `resnet predict --json` prints: {"file", "top": [{"class", "label", "prob"}],
// "error"}.
nb::list predict(Model& m, const std::vector<std::string>& files, int top_k,
                 const std::optional<std::vector<std::string>>& labels, int size, const std::string& dtype,
                 int64_t batch) {
  if (m.resnet == nullptr) throw InputError(fmt::format("predict: {} is not a classifier", m.arch));
  if (top_k < 1) throw InputError(fmt::format("top_k={}: expected at least 1", top_k));
  if (size < 1 || batch < 1)
    throw InputError(fmt::format("size={}, batch={}: expected at least 1", size, batch));
  const Precision precision = parse_precision(dtype, "dtype");
  if (precision == Precision::int8)
    throw InputError("predict: dtype='int8' needs calibrated scales; use 'f32' or 'bf16'");
  PredictOptions options{.transform = eval_transform(imagenet_info(), size),
                         .channels = m.in_channels(),
                         .labels = choose_labels(m, labels),
                         .top_k = top_k,
                         .batch_size = batch,
                         .precision = precision};
  std::vector<ImagePrediction> predictions;
  {
    nb::gil_scoped_release release;
    std::lock_guard lock(m.mutex);
    ImageClassifier classifier(*m.resnet, std::move(options));
    predictions = classifier.classify(files);
  }
  nb::list result;
  for (const ImagePrediction& p : predictions) {
    nb::list top;
    for (const ClassScore& s : p.top) {
      nb::dict score;
      score["class"] = s.index;
      score["label"] = s.label;
      score["prob"] = s.probability;
      top.append(score);
    }
    nb::dict entry;
    entry["file"] = p.file;
    entry["top"] = top;
    entry["error"] = p.error.empty() ? nb::none() : nb::cast(p.error);
    result.append(entry);
  }
  return result;
}

}  // namespace

void bind_predict(nb::module_& m) {
  m.def("predict", &predict, "model"_a, "files"_a, "top_k"_a = 5, nb::kw_only(), "labels"_a = nb::none(),
        "size"_a = 224, "dtype"_a = "f32", "batch"_a = 16,
        "Classifies JPEG/PNG files (eval mode: the model's running statistics): one dict per file, in order, "
        "{'file', 'top': [{'class', 'label', 'prob'}], 'error'} -- a file that cannot be read has an empty "
        "'top' and its 'error'; the others are still classified.");
}

}  // namespace resnet::python
