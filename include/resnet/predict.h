// Photos in, class names out: JPEG/PNG files through the evaluation transform and an InferencePlan, in
// batches, to the top-k classes with softmax probabilities.
//
//   resnet::ResNet model(resnet::zoo_config("resnet50"));  // then load its weights (resnet/weights.h)
//   model.set_training(false);
//   resnet::ImageClassifier classifier(model, {.transform = resnet::eval_transform(resnet::imagenet_info()),
//                                              .labels = resnet::imagenet_class_names()});
//   for (const resnet::ImagePrediction& p : classifier.classify({"cat.jpg", "photos/dog.png"}))
//     if (p.error.empty()) std::printf("%s: %s %.3f\n", p.file.c_str(), p.top[0].label.c_str(),
//     p.top[0].probability);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/plan.h"
#include "resnet/tensor.h"

namespace resnet {

class ResNet;

struct ClassScore {
  int64_t index = 0;
  std::string label;         // the class name; the index as text when there are no names
  double probability = 0.0;  // softmax over all classes
};

// The k most probable classes of one row of logits [classes], most probable first (ties: the lower index).
// labels: empty, or one name per class.
std::vector<ClassScore> top_classes(const float* logits, int64_t classes, int k,
                                    const std::vector<std::string>& labels);

// One image file as the model takes it: decoded, converted to `channels` (3: PIL's convert("RGB"), alpha
// dropped; 1: convert("L")), then the transform: f32 [H, W, channels]. Throws InputError naming the file.
Tensor load_model_input(const std::string& path, int channels, const TransformSpec& transform);

struct PredictOptions {
  // Must end in a fixed size (CenterCrop), so that images of any size make one batch.
  TransformSpec transform;
  int channels = 3;
  std::vector<std::string> labels;  // empty: class indices
  int top_k = 5;
  int64_t batch_size = 16;
  Precision precision = Precision::f32;
  PlanOptions plan;
};

struct ImagePrediction {
  std::string file;
  std::vector<ClassScore> top;  // empty when the file could not be read
  std::string error;            // why not ("<file>: PNG: ..."); empty on success
};

// Runs an eval-mode model on image files. The images of a batch are decoded and transformed in parallel
// (OpenMP, ops::set_num_threads threads), then run through one InferencePlan compiled for the batch size (a
// last, smaller batch reuses its weights). A file that cannot be read is reported in its ImagePrediction; the
// others are still classified.
class ImageClassifier {
 public:
  ImageClassifier(ResNet& model, PredictOptions options);
  ~ImageClassifier();
  ImageClassifier(const ImageClassifier&) = delete;
  ImageClassifier& operator=(const ImageClassifier&) = delete;

  // Calls `on_result` once per file, in the order of `files`, as each batch finishes.
  void classify(const std::vector<std::string>& files,
                const std::function<void(const ImagePrediction&)>& on_result);
  std::vector<ImagePrediction> classify(const std::vector<std::string>& files);

  const PredictOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet
