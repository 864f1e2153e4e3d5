// resnet quantize --arch A --weights F (--calib-dataset D [--data DIR] | --calib-npy IMAGES.npy)
//                 [--calib-batches N] [--batch-size B] [--method minmax|percentile] [--percentile P]
//                 --out F.int8.safetensors [--json]
// int8 post-training quantization: calibrates per-tensor activation scales on N batches of the dataset's
// training split (evaluation transform, shuffled with a fixed seed), then measures the f32 and the int8 plan
// on the held-out test split: top-1 of each and their top-1 agreement. With --calib-npy (images without
// labels, e.g. for ImageNet weights) it calibrates on those images and reports the agreement on them. Writes
// the model's weights plus the scales (resnet/int8_weights.h) atomically to --out.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/common.h"
#include "resnet/calibration.h"
#include "resnet/data.h"
#include "resnet/error.h"
#include "resnet/int8_weights.h"
#include "resnet/load_state_dict.h"
#include "resnet/npy.h"
#include "resnet/plan.h"
#include "resnet/train.h"
#include "resnet/zoo.h"

namespace resnet::cli {
namespace {

struct QuantizeFlags {
  std::string arch, weights, dataset, calib_npy, data_dir, stem, method = "minmax", out;
  double percentile = 99.99;
  int in_channels = 0, num_classes = 0, image_size = 0;
  int64_t calib_batches = 10, batch_size = 64, test_subset = 0;
  int threads = 0, workers = 2;
  bool json = false;
};

// The f32 plan of the source model beside the int8 plan of the quantized one (the written file, loaded back),
// for one batch shape, recompiled (weights shared) when the shape changes.
class PlanPair {
 public:
  PlanPair(ResNet& model, ResNet& quantized, std::shared_ptr<const Int8Calibration> int8)
      : model_(model), quantized_(quantized), int8_(std::move(int8)) {}

  // logits of both plans for images [B,H,W,C].
  std::pair<Tensor, Tensor> run(const Tensor& images) {
    if (!f32_) {
      f32_.emplace(InferencePlan::compile(model_, Precision::f32, images.shape()));
      int8_plan_.emplace(
          InferencePlan::compile(quantized_, Precision::int8, images.shape(), {.int8 = int8_}));
    } else if (f32_->input_shape() != images.shape()) {
      f32_.emplace(f32_->reshaped(images.shape()));
      int8_plan_.emplace(int8_plan_->reshaped(images.shape()));
    }
    return {f32_->run(images), int8_plan_->run(images)};
  }

 private:
  ResNet& model_;
  ResNet& quantized_;
  std::shared_ptr<const Int8Calibration> int8_;
  std::optional<InferencePlan> f32_, int8_plan_;
};

int64_t argmax(const float* row, int64_t n) {
  return std::max_element(row, row + n) - row;
}

struct HeldOut {
  int64_t count = 0, f32_correct = 0, int8_correct = 0, agree = 0;
  double max_abs_logit_diff = 0.0;
};

// Batches to calibrate or compare on: fills images [B,H,W,C] and labels (empty: unlabelled); false at the
// end.
using BatchSource = std::function<bool(Tensor& images, std::vector<int64_t>& labels)>;

BatchSource loader_batches(Loader& loader) {
  loader.start_epoch(0);
  return [&loader](Tensor& images, std::vector<int64_t>& labels) {
    Batch batch;
    if (!loader.next(batch)) return false;
    images = batch.images;
    labels = batch.labels;
    return true;
  };
}

// Consecutive slices of at most `batch` images of `all` [N,H,W,C], unlabelled.
BatchSource tensor_batches(const Tensor& all, int64_t batch) {
  auto next = std::make_shared<int64_t>(0);
  return [all, batch, next](Tensor& images, std::vector<int64_t>& labels) {
    const int64_t n = all.dim(0), first = *next;
    if (first >= n) return false;
    const int64_t count = std::min(batch, n - first), per_image = all.numel() / n;
    images = Tensor::empty({count, all.dim(1), all.dim(2), all.dim(3)});
    std::copy_n(all.f32() + first * per_image, count * per_image, images.f32());
    labels.clear();
    *next = first + count;
    return true;
  };
}

HeldOut compare_on(const BatchSource& batches, PlanPair& plans) {
  HeldOut r;
  Tensor images;
  std::vector<int64_t> labels;
  while (batches(images, labels)) {
    const auto [f32, int8] = plans.run(images);
    const int64_t classes = f32.dim(1);
    for (int64_t i = 0; i < f32.dim(0); ++i) {
      const float* a = f32.f32() + i * classes;
      const float* b = int8.f32() + i * classes;
      const int64_t pa = argmax(a, classes), pb = argmax(b, classes);
      if (!labels.empty()) {
        r.f32_correct += pa == labels[size_t(i)];
        r.int8_correct += pb == labels[size_t(i)];
      }
      r.agree += pa == pb;
      for (int64_t c = 0; c < classes; ++c)
        r.max_abs_logit_diff = std::max(r.max_abs_logit_diff, double(std::abs(a[c] - b[c])));
    }
    r.count += f32.dim(0);
  }
  return r;
}

void check_flags(const QuantizeFlags& f) {
  if (f.dataset.empty() == f.calib_npy.empty()) {
    throw InputError(
        "give one of --calib-dataset (a dataset: calibrate on its training split, compare on its "
        "test split) or --calib-npy (float32 NCHW images)");
  }
  if (!f.out.ends_with(".safetensors")) {
    throw InputError(
        fmt::format("--out {}: the file name must end in .safetensors (e.g. model.int8.safetensors)", f.out));
  }
  if (f.calib_batches < 1 || f.batch_size < 1)
    throw InputError("--calib-batches and --batch-size must be at least 1");
  if (f.test_subset < 0 || f.workers < 0 || f.image_size < 0) {
    throw InputError("--test-subset, --workers and --image-size must be >= 0");
  }
}

// What the model is and where the images come from: a dataset (train split to calibrate, test split held
// out, both labelled) or a .npy of images (calibrate and compare on them; no labels).
struct Source {
  DatasetInfo info;  // channels and classes shape the model
  std::unique_ptr<Loader> calib_loader, test_loader;
  Tensor npy_images;  // [N,H,W,C]
  BatchSource calibration, comparison;
  std::map<std::string, std::string> metadata;
};

void open_source(const QuantizeFlags& f, Source& s) {
  if (!f.dataset.empty()) {
    std::shared_ptr<const Dataset> train = open_dataset(f.dataset, f.data_dir, Split::train);
    std::shared_ptr<const Dataset> test = open_dataset(f.dataset, f.data_dir, Split::test);
    s.info = train->info();
    if (f.in_channels > 0 && f.in_channels != s.info.channels) {
      throw InputError(fmt::format("--in-channels {}: the {} images have {} channel(s)", f.in_channels,
                                   f.dataset, s.info.channels));
    }
    if (f.num_classes > 0 && f.num_classes != s.info.num_classes()) {
      throw InputError(
          fmt::format("--num-classes {}: {} has {} classes", f.num_classes, f.dataset, s.info.num_classes()));
    }
    // Calibration: the first calib_batches batches of a seeded shuffle of the training split.
    const TransformSpec transform = eval_transform(s.info, f.image_size);
    s.calib_loader = std::make_unique<Loader>(
        train, transform,
        LoaderOptions{.batch_size = f.batch_size, .shuffle = true, .seed = 0, .threads = f.workers});
    s.test_loader = std::make_unique<Loader>(
        test, transform,
        LoaderOptions{
            .batch_size = f.batch_size, .shuffle = false, .threads = f.workers, .subset = f.test_subset});
    s.calibration = loader_batches(*s.calib_loader);
    s.comparison = loader_batches(*s.test_loader);
    s.metadata = {{"calibration_dataset", f.dataset}, {"calibration_split", "train"}};
    return;
  }
  const Tensor input = load_npy(f.calib_npy);
  const int channels = f.in_channels > 0 ? f.in_channels : 3;
  if (input.rank() != 4 || input.dim(1) != channels || input.dtype() != DType::f32) {
    throw InputError(fmt::format("{}: expected float32 [N,{},H,W] (NCHW), got {} {}", f.calib_npy, channels,
                                 dtype_name(input.dtype()), shape_str(input.shape())));
  }
  s.info.channels = channels;
  s.info.class_names.resize(size_t(f.num_classes > 0 ? f.num_classes : zoo_config(f.arch).num_classes));
  s.npy_images = nchw_to_nhwc(input);
  s.calibration = tensor_batches(s.npy_images, f.batch_size);
  s.comparison = tensor_batches(s.npy_images, f.batch_size);
  s.metadata = {{"calibration_npy", f.calib_npy}};
}

void run_quantize(const QuantizeFlags& f) {
  check_flags(f);
  const CalibrationOptions options{.method = parse_calibration_method(f.method), .percentile = f.percentile};
  apply_threads(f.threads);
  Source source;
  open_source(f, source);
  ResNet model(model_config_for(f.arch, f.stem, source.info));
  load_state_dict(model, load_model_weights(f.weights, nullptr), true, f.weights);
  model.set_training(false);

  Calibrator calibrator(model, options);
  Tensor images;
  std::vector<int64_t> labels;
  for (int64_t b = 0; b < f.calib_batches && source.calibration(images, labels); ++b)
    calibrator.observe(images);
  auto calibration = std::make_shared<const Int8Calibration>(calibrator.finish());

  std::map<std::string, std::string> metadata = source.metadata;
  metadata.insert(
      {{"arch", f.arch}, {"source_weights", f.weights}, {"stem", f.stem.empty() ? "default" : f.stem}});
  save_int8_weights(model, *calibration, f.out, metadata);

  // What is reported for int8 is what the written file gives: its s8 weights and scales, loaded back.
  ResNet quantized(model_config_for(f.arch, f.stem, source.info));
  std::shared_ptr<const Int8Calibration> from_file;
  load_state_dict(quantized, load_model_weights(f.out, &from_file), true, f.out);
  quantized.set_training(false);
  PlanPair plans(model, quantized, from_file);
  const HeldOut r = compare_on(source.comparison, plans);
  const bool held_out = !f.dataset.empty();

  const double n = double(std::max<int64_t>(r.count, 1));
  const std::string method = options.method == CalibrationMethod::minmax
                                 ? std::string("minmax")
                                 : fmt::format("percentile {}", options.percentile);
  const std::string from = held_out ? fmt::format("{} training images", f.dataset) : f.calib_npy + " images";
  if (f.json) {
    nlohmann::json out = {{"arch", f.arch},
                          {"weights", f.weights},
                          {"out", f.out},
                          {"method", calibration_method_name(options.method)},
                          {"calibration_images", calibration->images},
                          {"held_out", held_out},
                          {"test_images", r.count},
                          {"agreement", double(r.agree) / n},
                          {"max_abs_logit_diff", r.max_abs_logit_diff}};
    if (held_out) {
      out["dataset"] = f.dataset;
      out["f32_top1"] = double(r.f32_correct) / n;
      out["int8_top1"] = double(r.int8_correct) / n;
    }
    if (options.method == CalibrationMethod::percentile) out["percentile"] = options.percentile;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << fmt::format("calibrated on {} {} ({})\n", calibration->images, from, method);
    if (held_out) {
      std::cout << fmt::format("held out: {} {} test images\n", r.count, f.dataset);
      std::cout << fmt::format("  f32  top-1 {:.2f}%\n", 100.0 * double(r.f32_correct) / n);
      std::cout << fmt::format("  int8 top-1 {:.2f}%\n", 100.0 * double(r.int8_correct) / n);
    } else {
      std::cout << fmt::format("compared on the same {} images (no labels, not held out)\n", r.count);
    }
    std::cout << fmt::format(
        "  top-1 agreement {:.2f}% ({} of {} predictions differ; largest logit difference {:.4f})\n",
        100.0 * double(r.agree) / n, r.count - r.agree, r.count, r.max_abs_logit_diff);
    std::cout << fmt::format("wrote {}\n", f.out);
  }
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  auto* cmd =
      app.add_subcommand("quantize", "int8 post-training quantization: calibrate, compare with f32, save");
  cmd->add_option("--arch", f->arch, "architecture (see `resnet list`)")->required();
  cmd->add_option("--weights", f->weights, "trained f32 weights (.safetensors or .pth)")->required();
  cmd->add_option("--calib-dataset", f->dataset,
                  "fashion-mnist | mnist | cifar10 | cifar100 | folder: calibrate on its training split, "
                  "compare on its test split");
  cmd->add_option("--calib-npy", f->calib_npy,
                  "instead of a dataset: float32 NCHW images to calibrate and compare on (no labels)");
  cmd->add_option("--data", f->data_dir,
                  "dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--calib-batches", f->calib_batches, "calibration batches from the training split")
      ->capture_default_str();
  cmd->add_option("--batch-size", f->batch_size, "images per batch (calibration and evaluation)")
      ->capture_default_str();
  cmd->add_option("--method", f->method, "activation thresholds: minmax or percentile (of |x|)")
      ->capture_default_str();
  cmd->add_option("--percentile", f->percentile, "percentile of |x| for --method percentile")
      ->capture_default_str();
  cmd->add_option("--in-channels", f->in_channels,
                  "input channels (default: the dataset's; checked against it)");
  cmd->add_option("--num-classes", f->num_classes, "classes (default: the dataset's; checked against it)");
  cmd->add_option("--stem", f->stem, "imagenet | cifar, as the model was trained (default: the arch's own)");
  cmd->add_option("--image-size", f->image_size, "as in training (default: the dataset's; folders 224)");
  cmd->add_option("--test-subset", f->test_subset, "evaluate on the first N test images only (0 = all)")
      ->capture_default_str();
  add_threads_option(*cmd, f->threads);
  cmd->add_option("--workers", f->workers, "data loader threads")->capture_default_str();
  cmd->add_option("--out", f->out, "the .int8.safetensors file to write")->required();
  cmd->add_flag("--json", f->json, "print one JSON object (f32_top1, int8_top1, agreement as fractions)");
  cmd->callback([f] { run_quantize(*f); });
}

}  // namespace resnet::cli
