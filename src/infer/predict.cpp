// ImageClassifier: image files -> eval transform -> InferencePlan (batched) -> softmax top-k.
#include "resnet/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "resnet/error.h"
#include "resnet/model.h"

namespace resnet {

std::vector<ClassScore> top_classes(const float* logits, int64_t classes, int k,
                                    const std::vector<std::string>& labels) {
  if (!labels.empty() && int64_t(labels.size()) != classes) {
    throw InternalError(fmt::format("top_classes: {} labels for {} classes", labels.size(), classes));
  }
  const float max = *std::max_element(logits, logits + classes);
  double sum = 0.0;
  for (int64_t c = 0; c < classes; ++c) sum += std::exp(double(logits[c]) - double(max));
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  const int64_t kept = std::clamp<int64_t>(k, 0, classes);
  std::partial_sort(order.begin(), order.begin() + kept, order.end(), [logits](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<ClassScore> top;
  for (int64_t j = 0; j < kept; ++j) {
    const int64_t c = order[size_t(j)];
    top.push_back({c, labels.empty() ? std::to_string(c) : labels[size_t(c)],
                   std::exp(double(logits[c]) - double(max)) / sum});
  }
  return top;
}

Tensor load_model_input(const std::string& path, int channels, const TransformSpec& transform) {
  return apply_transform(transform, read_image(path, channels), 0);
}

struct ImageClassifier::Impl {
  ResNet& model;
  PredictOptions options;
  std::map<int64_t, InferencePlan> plans;  // by batch size

  // The plan for a batch of n images [n, S, S, C], compiled on first use; other sizes share its weights.
  InferencePlan& plan_for(int64_t n) {
    auto it = plans.find(n);
    if (it != plans.end()) return it->second;
    const int64_t side = options.transform.center_crop;
    const Shape shape{n, side, side, options.channels};
    InferencePlan plan = plans.empty() ? InferencePlan::compile(model, options.precision, shape, options.plan)
                                       : plans.begin()->second.reshaped(shape);
    return plans.emplace(n, std::move(plan)).first->second;
  }

  // Decodes and transforms the files in parallel: inputs[i] is f32 [S, S, C], or empty with errors[i] set.
  void load_batch(const std::string* files, int64_t count, std::vector<Tensor>& inputs,
                  std::vector<std::string>& errors) const {
    inputs.assign(size_t(count), Tensor());
    errors.assign(size_t(count), std::string());
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < count; ++i) {
      try {
        inputs[size_t(i)] = load_model_input(files[i], options.channels, options.transform);
      } catch (const std::exception& e) {  // InputError names the file; anything else does not
        const std::string what = e.what();
        errors[size_t(i)] = what.starts_with(files[i]) ? what : files[i] + ": " + what;
      }
    }
  }

  void classify_batch(const std::string* files, int64_t count,
                      const std::function<void(const ImagePrediction&)>& on_result) {
    std::vector<Tensor> inputs;
    std::vector<std::string> errors;
    load_batch(files, count, inputs, errors);
    const int64_t good = std::count(errors.begin(), errors.end(), std::string());
    Tensor logits;
    if (good > 0) {
      InferencePlan& plan = plan_for(good);
      Tensor batch(plan.input_shape());
      const size_t image_floats = size_t(batch.numel() / good);
      float* dst = batch.f32();
      for (int64_t i = 0; i < count; ++i) {
        if (!errors[size_t(i)].empty()) continue;
        std::memcpy(dst, inputs[size_t(i)].f32(), image_floats * sizeof(float));
        dst += image_floats;
      }
      logits = plan.run(batch);
    }
    const int64_t classes = good > 0 ? logits.dim(1) : 0;
    int64_t row = 0;
    for (int64_t i = 0; i < count; ++i) {
      ImagePrediction prediction{files[i], {}, errors[size_t(i)]};
      if (prediction.error.empty()) {
        prediction.top = top_classes(logits.f32() + row * classes, classes, options.top_k, options.labels);
        ++row;
      }
      on_result(prediction);
    }
  }
};

ImageClassifier::ImageClassifier(ResNet& model, PredictOptions options)
    : impl_(std::make_unique<Impl>(Impl{model, std::move(options), {}})) {
  const PredictOptions& o = impl_->options;
  if (o.transform.center_crop <= 0 || o.transform.random_resized_crop > 0 || o.transform.random_crop > 0) {
    throw InputError("ImageClassifier: the transform must end in a CenterCrop (and have no random steps)");
  }
  if (o.batch_size < 1) throw InputError(fmt::format("--batch {}: must be at least 1", o.batch_size));
  if (o.top_k < 1) throw InputError(fmt::format("--top-k {}: must be at least 1", o.top_k));
  if (o.channels != 1 && o.channels != 3) {
    throw InputError(fmt::format("images can be read as 1 or 3 channels, not {}", o.channels));
  }
}

ImageClassifier::~ImageClassifier() = default;

const PredictOptions& ImageClassifier::options() const {
  return impl_->options;
}

void ImageClassifier::classify(const std::vector<std::string>& files,
                               const std::function<void(const ImagePrediction&)>& on_result) {
  const int64_t total = int64_t(files.size());
  for (int64_t first = 0; first < total; first += impl_->options.batch_size) {
    impl_->classify_batch(files.data() + first, std::min(impl_->options.batch_size, total - first),
                          on_result);
  }
}

std::vector<ImagePrediction> ImageClassifier::classify(const std::vector<std::string>& files) {
  std::vector<ImagePrediction> out;
  classify(files, [&out](const ImagePrediction& p) { out.push_back(p); });
  return out;
}

}  // namespace resnet
