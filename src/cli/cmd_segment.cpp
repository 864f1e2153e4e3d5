// resnet segment --arch unet-A --weights W --out DIR [--overlay] [--dtype f32|bf16] [--batch 8] [--size S]
//                [--threads T] IMAGE|DIR ...
// Segments JPEG and PNG images (directories: every .jpg/.jpeg/.png under them, sorted) with a U-Net's fused
// inference plan and writes, per image, DIR/<stem>.png: the mask as a palette PNG whose pixel values are the
// classes (argmax of the logits; one class: 1 where the logit is > 0) and, with --overlay,
// DIR/<stem>_overlay.png: the image with the mask blended over it and a legend of the classes present. Each
// file is written atomically. A file that cannot be read or segmented gets one line on stderr; the others are
// still done, and the exit status is 2.
//
// The model: --arch names the encoder; the classes, input channels, encoder depth and decoder channels are
// read off the weights (segmentation_head.0.weight, encoder.conv1.weight, decoder.blocks.N.conv1.0.weight).
// The images: converted to the model's channels (1: PIL's "L", 3: "RGB"), divided by 255 and normalised with
// the mean/std of the run's dataset when the weights lie in a `resnet train` run folder (its config.json's
// "dataset_info", as `resnet predict` finds it: cli/common.h), else ImageNet's (3 channels only). Class
// names for the legend: the run's, else the class indices. Size: an image whose height and width are
// multiples of 2^depth runs at its own size; another is resized (bilinear, antialiased) to S x S with --size
// S, or is an error saying so. The mask has the size the model ran at.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "cli/common.h"
#include "resnet/data.h"
#include "resnet/error.h"
#include "resnet/image.h"
#include "resnet/plan.h"
#include "resnet/unet.h"
#include "train/segmentation_png.h"

namespace resnet::cli {
namespace {

namespace fs = std::filesystem;

struct SegmentFlags {
  std::string arch, weights, out, dtype = "f32";
  bool overlay = false;
  int64_t batch = 8;
  int size = 0;  // 0: only images of a size the model takes
  int threads = 0;
  std::vector<std::string> inputs;
  TuneFlags tune;
};

// The dimension `dim` of the tensor `name` in the weights, or -1 if there is none.
int64_t weight_dim(const StateDict& weights, const std::string& name, int dim) {
  for (const NamedTensor& t : weights) {
    if (t.name == name && t.tensor.rank() > dim) return t.tensor.dim(dim);
  }
  return -1;
}

// The U-Net of `arch` whose classes, input channels, depth and decoder channels are the weights' (smp's
// names); the weights loaded strictly (a mismatch is the load's InputError naming the tensor); eval mode.
std::unique_ptr<UNet> build_unet_for_weights(const std::string& arch, const StateDict& weights,
                                             const std::string& source) {
  if (!is_unet_name(arch))
    throw InputError(fmt::format("--arch {}: resnet segment takes a U-Net (unet-<encoder>)", arch));
  std::vector<int> decoder_channels;
  for (int64_t c;
       (c = weight_dim(weights, fmt::format("decoder.blocks.{}.conv1.0.weight", decoder_channels.size()),
                       0)) > 0;) {
    decoder_channels.push_back(int(c));
  }
  const int64_t classes = weight_dim(weights, "segmentation_head.0.weight", 0);
  const int64_t channels = weight_dim(weights, "encoder.conv1.weight", 1);
  if (decoder_channels.empty() || classes < 1 || channels < 1) {
    throw InputError(
        fmt::format("{}: not the weights of a U-Net (no decoder.blocks.0.conv1.0.weight, "
                    "segmentation_head.0.weight or encoder.conv1.weight)",
                    source));
  }
  const int depth = int(decoder_channels.size());
  auto model = std::make_unique<UNet>(
      unet_zoo_config(arch, int(classes), int(channels), depth, decoder_channels), 0, Init::none);
  load_into_model(*model, weights, source, /*non_strict=*/false);
  model->set_training(false);
  return model;
}

// One image as the model takes it.
struct SegmentInput {
  std::string file;
  Image image;   // u8 [H, W, channels] at the size the model runs at (drawn under the overlay)
  Tensor input;  // f32 [H, W, channels], normalised
  std::string error;
};

// Images -> per-pixel logits through one plan per input shape (the others reshaped from the first, sharing
// its weights).
class Segmenter {
 public:
  Segmenter(UNet& model, Precision precision, const DatasetInfo& data, int size, PlanOptions options)
      : model_(model), precision_(precision), data_(data), size_(size), options_(std::move(options)) {}

  int multiple() const { return 1 << model_.config().encoder_depth; }
  int channels() const { return model_.config().encoder.in_channels; }

  SegmentInput load(const std::string& file) const {
    SegmentInput in{.file = file};
    try {
      in.image = read_image(file, channels());
      if (in.image.height % multiple() != 0 || in.image.width % multiple() != 0) {
        if (size_ == 0) {
          throw InputError(fmt::format(
              "{}: {}x{} is not a multiple of {} (2^encoder_depth of {}): give --size S (a multiple of {}) "
              "to "
              "resize it to S x S",
              file, in.image.height, in.image.width, multiple(), model_.config().name, multiple()));
        }
        in.image = resize_image(in.image, size_, size_);
      }
      in.input = apply_transform(TransformSpec{.mean = data_.mean, .std = data_.std}, in.image, 0);
    } catch (const std::exception& e) {  // InputError names the file; anything else does not
      const std::string what = e.what();
      in.error = what.starts_with(file) ? what : file + ": " + what;
    }
    return in;
  }

  // Images of one size -> logits f32 [n, H, W, classes].
  Tensor run(const std::vector<const SegmentInput*>& images) {
    const Tensor& first = images.front()->input;
    const Shape shape = {int64_t(images.size()), first.dim(0), first.dim(1), first.dim(2)};
    Tensor batch(shape);
    const int64_t floats = first.numel();
    for (size_t i = 0; i < images.size(); ++i)
      std::copy_n(images[i]->input.f32(), floats, batch.f32() + int64_t(i) * floats);
    return plan_for(shape).run(batch);
  }

 private:
  InferencePlan& plan_for(const Shape& shape) {
    auto it = plans_.find(shape);
    if (it != plans_.end()) return it->second;
    if (plans_.size() >= kMaxPlans) {  // many sizes: keep the first plan (its weights) only
      for (auto p = plans_.begin(); p != plans_.end();)
        p = p->first == first_shape_ ? std::next(p) : plans_.erase(p);
    }
    if (plans_.empty()) {
      first_shape_ = shape;
      return plans_.emplace(shape, InferencePlan::compile(model_, precision_, shape, options_)).first->second;
    }
    return plans_.emplace(shape, plans_.at(first_shape_).reshaped(shape)).first->second;
  }

  static constexpr size_t kMaxPlans = 8;
  UNet& model_;
  Precision precision_;
  DatasetInfo data_;
  int size_;
  PlanOptions options_;
  std::map<Shape, InferencePlan> plans_;
  Shape first_shape_;
};

// The legend's names: the run's when it names every class the masks can hold, else the indices.
std::vector<std::string> legend_names(const std::optional<RunRecord>& run, int64_t classes) {
  const size_t mask_classes = classes == 1 ? 2 : size_t(classes);  // one logit: classes 0 and 1
  if (run && run->data && run->data->class_names.size() == mask_classes) return run->data->class_names;
  std::vector<std::string> names;
  for (size_t c = 0; c < mask_classes; ++c) names.push_back(std::to_string(c));
  return names;
}

struct Outputs {
  fs::path dir;
  bool overlay = false;
  std::vector<std::string> names;
  std::map<std::string, std::string> stems;  // stem -> the file that took it
};

// Writes the mask (and overlay) of sample n of logits; prints where.
void write_outputs(const SegmentInput& in, const Tensor& logits, int64_t n, const Outputs& out) {
  const std::string stem = fs::path(in.file).stem().string();
  const Image mask = mask_from_logits(logits, n);
  const std::string mask_path = (out.dir / (stem + ".png")).string();
  write_mask_png(mask, mask_path);
  std::string line = fmt::format("{} -> {}", in.file, mask_path);
  if (out.overlay) {
    const std::string overlay_path = (out.dir / (stem + "_overlay.png")).string();
    write_segmentation_overlay_png(in.image, mask, out.names, overlay_path);
    line += ", " + overlay_path;
  }
  std::cout << line << "\n" << std::flush;
}

// Segments files[first, first + count): loads each, runs the good ones grouped by size, writes each image's
// outputs in file order. Returns the number of failures.
int segment_batch(Segmenter& segmenter, const std::vector<std::string>& files, size_t first, size_t count,
                  Outputs& out) {
  std::vector<SegmentInput> inputs;
  for (size_t i = first; i < first + count; ++i) inputs.push_back(segmenter.load(files[i]));
  for (SegmentInput& in : inputs) {  // two inputs of one stem would write the same files
    if (!in.error.empty()) continue;
    const std::string stem = fs::path(in.file).stem().string();
    auto [taken, fresh] = out.stems.emplace(stem, in.file);
    if (!fresh) {
      in.error = fmt::format("{}: its outputs {}/{}.png would overwrite those of {}", in.file,
                             out.dir.string(), stem, taken->second);
    }
  }
  std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> by_size;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].error.empty()) by_size[{inputs[i].input.dim(0), inputs[i].input.dim(1)}].push_back(i);
  }
  std::vector<std::pair<Tensor, int64_t>> logits_of(inputs.size());  // (logits of its group, row)
  for (const auto& [size, members] : by_size) {
    std::vector<const SegmentInput*> group;
    for (size_t i : members) group.push_back(&inputs[i]);
    const Tensor logits = segmenter.run(group);
    for (size_t j = 0; j < members.size(); ++j) logits_of[members[j]] = {logits, int64_t(j)};
  }
  int failures = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].error.empty()) {
      try {
        write_outputs(inputs[i], logits_of[i].first, logits_of[i].second, out);
      } catch (const InputError& e) {
        inputs[i].error = fmt::format("{}: {}", inputs[i].file, e.what());
      }
    }
    if (!inputs[i].error.empty()) {
      std::cerr << fmt::format("resnet: error: {}\n", inputs[i].error);
      ++failures;
    }
  }
  return failures;
}

void run_segment(const SegmentFlags& f) {
  apply_threads(f.threads);
  const Precision precision = parse_precision(f.dtype);
  if (precision == Precision::int8)
    throw InputError("--dtype int8: a U-Net has no int8 plan; use f32 or bf16");
  if (precision == Precision::bf16) note_if_bf16_is_slower("--dtype");
  const StateDict weights = load_model_weights(f.weights, nullptr);
  const std::optional<RunRecord> run = find_run(f.weights);
  std::unique_ptr<UNet> model = build_unet_for_weights(f.arch, weights, f.weights);
  const int channels = model->config().encoder.in_channels;
  if (channels != 1 && channels != 3) {
    throw InputError(fmt::format("{}: a {}-channel model; images can be read as 1 (L) or 3 (RGB) channels",
                                 f.weights, channels));
  }
  const int multiple = 1 << model->config().encoder_depth;
  if (f.size % multiple != 0)
    throw InputError(fmt::format("--size {}: must be a multiple of {} (2^encoder_depth)", f.size, multiple));
  Segmenter segmenter(*model, precision, input_conventions(f.weights, run, channels), f.size,
                      PlanOptions{.tune = want_tuning(f.tune, false)});

  Outputs out{.dir = f.out, .overlay = f.overlay, .names = legend_names(run, model->config().classes)};
  std::error_code ec;
  fs::create_directories(out.dir, ec);
  if (ec) throw InputError(fmt::format("--out {}: cannot create the folder: {}", f.out, ec.message()));

  int failures = 0;
  const std::vector<std::string> files = expand_image_inputs(f.inputs, failures);
  for (size_t first = 0; first < files.size(); first += size_t(f.batch)) {
    failures += segment_batch(segmenter, files, first, std::min(size_t(f.batch), files.size() - first), out);
  }
  if (failures > 0) throw ExitStatus{2};
}

}  // namespace

void register_segment(CLI::App& app) {
  auto f = std::make_shared<SegmentFlags>();
  auto* cmd = app.add_subcommand(
      "segment", "segment JPEG and PNG images with a U-Net: a palette mask PNG per image (and an overlay)");
  cmd->add_option("--arch", f->arch, "a U-Net: unet-<encoder> (see `resnet list`)")->required();
  cmd->add_option("--weights", f->weights,
                  "the U-Net's weights: .safetensors or .pth with smp's names (a `resnet train` run's "
                  "best/last.safetensors: its dataset's normalisation and class names are used)")
      ->required();
  cmd->add_option("--out", f->out, "folder for <stem>.png (and <stem>_overlay.png)")->required();
  cmd->add_flag("--overlay", f->overlay, "also write the image with the mask blended over it and a legend");
  cmd->add_option("--dtype", f->dtype, "compute precision: f32 or bf16")->capture_default_str();
  cmd->add_option("--batch", f->batch, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--size", f->size,
                  "resize images whose sides are not multiples of 2^depth to S x S (default: refuse them)")
      ->check(CLI::PositiveNumber);
  add_threads_option(*cmd, f->threads);
  add_tune_flags(*cmd, f->tune, false);
  cmd->add_option("inputs", f->inputs, "image files (.jpg, .jpeg, .png) and folders of them")->required();
  cmd->callback([f] { run_segment(*f); });
}

}  // namespace resnet::cli
