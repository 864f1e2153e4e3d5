#include "cli/bench_train.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/training_tuning.h"
#include "core/rng.h"
#include "dnnl/ops.h"
#include "resnet/error.h"
#include "resnet/loss.h"
#include "resnet/optim.h"
#include "resnet/segmentation_data.h"
#include "resnet/segmentation_loss.h"
#include "resnet/unet.h"
#include "resnet/zoo.h"

namespace resnet::cli {
namespace {

// The optimizer of `resnet train`'s defaults for the small-image recipe. The lr is lower than train's 0.1 so
// that no run of random labels diverges while timed (the values do not change the work of a step).
constexpr SgdOptions kSgd{.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4};

// Flags of the inference bench that mean nothing for a training step.
constexpr const char* kInferenceOnlyFlags[] = {"--dtype",   "--no-fuse",    "--sub-batch", "--show-plan",
                                               "--weights", "--non-strict", "--callers"};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

rusage usage_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage;
}

// User + system CPU time of the process (all threads), ms.
double cpu_ms(const rusage& u) {
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
  };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

ResNetConfig model_config(const TrainBenchCommon& c, const std::string& stem) {
  ResNetConfig config = zoo_config(c.model.arch, c.model.num_classes, c.model.in_channels);
  apply_stem(config, stem);
  return config;
}

DType compute_dtype(const std::string& precision) {
  if (precision == "f32") return DType::f32;
  if (precision == "bf16") return DType::bf16;
  throw InputError(fmt::format("--precision {}: expected f32 or bf16", precision));
}

// The model a training step runs, with one fixed batch and its loss: a classifier with softmax
// cross-entropy on labels, or a U-Net (--arch unet-...) with per-pixel cross-entropy on a mask.
struct BenchModel {
  std::unique_ptr<Module> model;
  std::string stem;
  int in_channels = 0, num_classes = 0;
  // forward -> loss -> backward on the fixed batch; returns the loss.
  std::function<double()> forward_loss_backward;
};

// x [N, size, size, in_channels] standard normal.
Tensor random_images(const TrainBenchCommon& c, int channels, Rng& rng) {
  Tensor images({c.batch, c.size, c.size, channels});
  float* x = images.f32();
  for (int64_t i = 0; i < images.numel(); ++i) x[i] = static_cast<float>(rng.normal());
  return images;
}

BenchModel classifier(const TrainBenchFlags& f, const TrainBenchCommon& c, DType dtype) {
  const ResNetConfig config = model_config(c, f.stem);
  auto model = std::make_unique<ResNet>(config, c.model.seed);
  model->freeze(f.freeze);
  model->set_compute_dtype(dtype);
  model->set_input_gradient(false);  // as resnet train (and the peers: their images do not require grad)
  // Labels uniform in [0, classes).
  Rng rng(1);
  Tensor images = random_images(c, config.in_channels, rng);
  std::vector<int64_t> labels(static_cast<size_t>(c.batch));
  for (int64_t& label : labels) label = static_cast<int64_t>(rng.below(uint64_t(config.num_classes)));
  ResNet& m = *model;
  return {std::move(model), config.stem == Stem::cifar ? "cifar" : "imagenet", config.in_channels,
          config.num_classes, [&m, images, labels] {
            const Tensor logits = m.forward(images);
            const CrossEntropy ce = softmax_cross_entropy(logits, labels);
            m.backward(ce.grad);
            return ce.loss;
          }};
}

BenchModel unet(const TrainBenchFlags& f, const TrainBenchCommon& c, DType dtype) {
  if (!f.stem.empty() && f.stem != "imagenet")
    throw InputError(fmt::format("--stem {}: a U-Net's encoder has the ImageNet stem", f.stem));
  const UNetConfig config = unet_config(c.model);
  auto model = std::make_unique<UNet>(config, c.model.seed);
  model->freeze(f.freeze);
  model->set_compute_dtype(dtype);
  model->encoder().set_input_gradient(false);
  // Mask [N, size, size] of classes uniform in [0, classes) (0/1 for one class).
  Rng rng(1);
  Tensor images = random_images(c, config.encoder.in_channels, rng);
  Tensor mask({c.batch, c.size, c.size}, DType::u8);
  auto* t = mask.data_as<uint8_t>();
  for (int64_t i = 0; i < mask.numel(); ++i)
    t[i] = static_cast<uint8_t>(rng.below(uint64_t(std::max(config.classes, 2))));
  UNet& m = *model;
  return {std::move(model), "imagenet", config.encoder.in_channels, config.classes, [&m, images, mask] {
            const Tensor logits = m.forward(images);
            const SegmentationLoss ce = segmentation_cross_entropy(logits, mask, kDefaultIgnoreIndex);
            m.backward(ce.grad);
            return ce.loss;
          }};
}

void run(const TrainBenchFlags& f, const TrainBenchCommon& c) {
  if (c.batch < 2) throw InputError(fmt::format("--batch {}: batch norm training needs at least 2", c.batch));
  if (c.model.in_channels < 1) {
    throw InputError(fmt::format("--in-channels {}: must be positive", c.model.in_channels));
  }
  const DType dtype = compute_dtype(f.precision);
  if (dtype == DType::bf16) note_if_bf16_is_slower("--precision");
  apply_threads(c.threads);
  ops::set_conv_winograd(c.winograd);
  const TrainingTuning tuning(c.tune);
  BenchModel bench = is_unet_name(c.model.arch) ? unet(f, c, dtype) : classifier(f, c, dtype);

  Module& model = *bench.model;
  model.set_training(true);
  std::vector<Parameter*> params = model.parameters();
  Sgd sgd(params, kSgd);

  double loss = 0.0;
  auto step = [&] {  // as train_epoch() in src/train/trainer.cpp, without the data loader and the meters
    sgd.set_lr(kSgd.lr);
    model.zero_grad();
    loss = bench.forward_loss_backward();
    grad_norm(params);
    sgd.step();
  };

  for (int i = 0; i < c.warmup; ++i) step();
  std::vector<double> ms;
  const rusage cpu_start = usage_now();
  for (int i = 0; i < c.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    ms.push_back(ms_between(start, std::chrono::steady_clock::now()));
  }
  const rusage end = usage_now();
  const double cpu_ms_per_step = (cpu_ms(end) - cpu_ms(cpu_start)) / c.iters;
  const double peak_rss_mib = static_cast<double>(end.ru_maxrss) / 1024.0;  // Linux: ru_maxrss in KiB
  const double ms_per_step = median(ms);
  const double images_per_sec = static_cast<double>(c.batch) * 1000.0 / ms_per_step;
  if (!std::isfinite(loss)) {
    std::cerr << fmt::format("resnet: warning: the loss became {} during the timed steps\n", loss);
  }

  if (c.json) {
    nlohmann::json out = {{"engine", "resnet.cpp"},
                          {"mode", "train"},
                          {"arch", c.model.arch},
                          {"stem", bench.stem},
                          {"batch", c.batch},
                          {"size", c.size},
                          {"in_channels", bench.in_channels},
                          {"num_classes", bench.num_classes},
                          {"precision", f.precision},
                          {"freeze", f.freeze},
                          {"winograd", c.winograd},
                          {"tuned", tuning.on()},
                          {"threads", ops::num_threads()},
                          {"warmup", c.warmup},
                          {"iters", c.iters},
                          {"params", model.parameter_count()},
                          {"images_per_sec", images_per_sec},
                          {"ms_per_step", ms_per_step},
                          {"min_ms_per_step", *std::min_element(ms.begin(), ms.end())},
                          {"cpu_ms_per_step", cpu_ms_per_step},
                          {"peak_rss_mib", peak_rss_mib},
                          {"final_loss", loss}};
    if (tuning.on()) {
      out["tuning"] = tuning.summary();
      if (c.verbose) out["tuned_kernels"] = tuning.choices();
    }
    std::cout << out.dump() << "\n";
  } else {
    std::cout << fmt::format(
        "train {} ({} stem) batch {} {}x{}x{} {} threads {}: {:.2f} images/s, {:.2f} ms/step (median of {}), "
        "peak RSS {:.1f} MiB\n",
        c.model.arch, bench.stem, c.batch, c.size, c.size, bench.in_channels, f.precision, ops::num_threads(),
        images_per_sec, ms_per_step, c.iters, peak_rss_mib);
    if (tuning.on()) std::cout << tuning.summary() << "\n";
    if (c.verbose) {
      for (const std::string& line : tuning.choices()) std::cout << "  " << line << "\n";
    }
  }
}

}  // namespace

std::shared_ptr<TrainBenchFlags> add_train_bench_flags(CLI::App& cmd) {
  auto f = std::make_shared<TrainBenchFlags>();
  cmd.add_flag("--train", f->train,
               "time training steps (forward, cross-entropy, backward, SGD momentum) instead of inference");
  cmd.add_option("--stem", f->stem, "with --train: imagenet | cifar (default: the architecture's own)");
  cmd.add_option("--precision", f->precision, "with --train: f32 | bf16")->capture_default_str();
  cmd.add_option(
      "--freeze", f->freeze,
      "with --train: freeze up to and including stem | layer1..layer4 | backbone (as resnet train)");
  return f;
}

bool run_train_bench_if_asked(const CLI::App& cmd, const TrainBenchFlags& flags,
                              const TrainBenchCommon& common) {
  if (!flags.train) {
    for (const char* name : {"--stem", "--precision", "--freeze"}) {
      if (cmd.count(name) > 0)
        throw InputError(fmt::format("{} is a --train flag (inference uses --dtype)", name));
    }
    return false;
  }
  for (const char* name : kInferenceOnlyFlags) {
    if (cmd.get_option_no_throw(name) != nullptr && cmd.count(name) > 0) {
      throw InputError(fmt::format("{} does not apply to --train", name));
    }
  }
  run(flags, common);
  return true;
}

}  // namespace resnet::cli
