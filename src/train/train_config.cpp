// TrainConfig: defaults that depend on other fields, validation with the CLI's flag names, JSON (config.json
// and the run state) and the comparison a resumed run makes against its checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "io/json_input.h"
#include "resnet/optim.h"
#include "resnet/segmentation_data.h"
#include "resnet/segmentation_loss.h"
#include "resnet/train.h"
#include "resnet/unet.h"
#include "resnet/zoo.h"

namespace resnet {
namespace {

using nlohmann::json;

bool one_of(const std::string& value, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return value == n; });
}

void require(bool ok, const std::string& flag, const std::string& value, const std::string& why) {
  if (!ok) throw InputError(fmt::format("{} {}: {}", flag, value, why));
}

// The model trains on small images with the CIFAR recipe (the CIFAR networks, or --stem cifar).
bool small_image_model(const TrainConfig& c) {
  return c.stem == "cifar";
}

// JSON keys are the CLI flags without "--" and with '_' for '-', so a flag and its key read alike.
json classification_json(const TrainConfig& c) {
  return {{"arch", c.arch},
          {"dataset", c.dataset},
          {"data", c.data_dir},
          {"stem", c.stem},
          {"image_size", c.image_size},
          {"augment", c.augment},
          {"subset", c.subset},
          {"test_subset", c.test_subset},
          {"classes", c.classes},
          {"per_class", c.per_class},
          {"init_weights", c.init_weights},
          {"non_strict", c.non_strict},
          {"freeze", c.freeze},
          {"lr_backbone", c.lr_backbone.value_or(c.lr.value_or(0.0))},
          {"dropout", c.dropout},
          {"init", c.init_report},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"max_steps_per_epoch", c.max_steps_per_epoch},
          {"optimizer", c.optimizer},
          {"lr", c.lr.value_or(0.0)},
          {"wd", c.weight_decay.value_or(0.0)},
          {"momentum", c.momentum},
          {"nesterov", c.nesterov},
          {"bn_weight_decay", c.decay_bn_and_bias},
          {"schedule", c.schedule},
          {"warmup_epochs", c.warmup_epochs},
          {"label_smoothing", c.label_smoothing},
          {"clip_grad_norm", c.clip_grad_norm},
          {"precision", c.precision},
          {"seed", c.seed},
          {"out", c.out_dir},
          {"threads", c.threads},
          {"workers", c.workers}};
}

// A segmentation run's config has these keys too; a classification run's has none of them (its config.json
// is as before segmentation existed).
json task_json(const TrainConfig& c) {
  json j = classification_json(c);
  if (!is_segmentation(c)) return j;
  j["task"] = c.task;
  j["loss"] = c.loss;
  j["ignore_index"] = c.ignore_index;
  j["encoder_depth"] = c.encoder_depth;
  j["decoder_channels"] = c.decoder_channels;
  return j;
}

// Keys written only when they are not the default, so that config.json stays as it was without them.
json to_json(const TrainConfig& c) {
  json j = task_json(c);
  if (!is_segmentation(c)) {  // the recipe's flags, all of them in every classification run
    j["ema"] = c.ema;
    j["ema_steps"] = c.ema_steps;
    j["mixup"] = c.mixup;
    j["cutmix"] = c.cutmix;
    j["random_erasing"] = c.random_erasing;
    j["auto_augment"] = c.auto_augment;
  }
  if (c.skip_bad_images) j["skip_bad_images"] = true;
  if (c.sync_bn) j["sync_bn"] = true;
  if (!c.winograd) j["winograd"] = false;
  return j;
}

// Keys that may differ between a run and its resumption: they do not change the trained weights
// (skip_bad_images only skips what would otherwise stop the run; winograd changes the rounding only, as
// threads does).
bool execution_only(const std::string& key) {
  return one_of(key, {"out", "threads", "workers", "data", "init", "skip_bad_images", "winograd"});
}

}  // namespace

ResNetConfig model_config_for(const std::string& arch, const std::string& stem, const DatasetInfo& info) {
  ResNetConfig config = zoo_config(arch, info.num_classes(), info.channels);
  apply_stem(config, stem);
  return config;
}

bool is_segmentation(const TrainConfig& config) {
  return config.task == "segmentation";
}

namespace {

// The flags of the other task must keep their defaults.
void check_task_flags(const TrainConfig& c) {
  auto refuse = [&](bool given, const std::string& flag) {
    if (given) throw InputError(fmt::format("{} does not apply to --task {}", flag, c.task));
  };
  if (is_segmentation(c)) {
    refuse(!c.classes.empty(), "--classes");
    refuse(c.per_class != 0, "--per-class");
    refuse(c.label_smoothing != 0.0, "--label-smoothing");
    refuse(c.dropout != 0.0f, "--dropout");
    refuse(c.ema != 0.0, "--ema");
    refuse(c.mixup != 0.0, "--mixup");
    refuse(c.cutmix != 0.0, "--cutmix");
    refuse(c.random_erasing != 0.0, "--random-erasing");
    refuse(c.auto_augment != "none", "--auto-augment");
    return;
  }
  refuse(!c.loss.empty(), "--loss");
  refuse(c.ignore_index != kDefaultIgnoreIndex, "--ignore-index");
  refuse(c.encoder_depth != 0, "--encoder-depth");
  refuse(!c.decoder_channels.empty(), "--decoder-channels");
}

// The U-Net flags: --arch a U-Net, --stem imagenet (its encoder's), a loss, the depth and decoder channels as
// smp takes them (unet_zoo_config checks them).
void resolve_segmentation(TrainConfig& c) {
  require(is_unet_name(c.arch), "--arch", c.arch,
          "--task segmentation trains a U-Net (unet-resnet18, unet-resnet34, ...; see `resnet list`)");
  require(c.stem.empty() || c.stem == "imagenet", "--stem", c.stem,
          "a U-Net's encoder has the ImageNet stem (its stages halve the size)");
  c.stem = "imagenet";
  if (c.loss.empty()) c.loss = "ce";
  parse_segmentation_loss(c.loss);  // throws for an unknown loss
  require(c.ignore_index >= 0 && c.ignore_index <= 255, "--ignore-index", std::to_string(c.ignore_index),
          "must be in 0..255 (a mask value)");
  if (c.encoder_depth == 0) c.encoder_depth = 5;
  require(c.encoder_depth >= 3 && c.encoder_depth <= 5, "--encoder-depth", std::to_string(c.encoder_depth),
          "must be 3, 4 or 5");
  if (c.decoder_channels.empty()) c.decoder_channels = default_decoder_channels(c.encoder_depth);
  require(c.decoder_channels.size() == size_t(c.encoder_depth), "--decoder-channels",
          fmt::format("{}", fmt::join(c.decoder_channels, ",")),
          fmt::format("needs one value per decoder block ({}, the --encoder-depth)", c.encoder_depth));
  unet_zoo_config(c.arch, 2, 1, c.encoder_depth, c.decoder_channels);  // throws for a bad combination
  const std::vector<std::string> datasets = segmentation_dataset_names();
  require(std::find(datasets.begin(), datasets.end(), c.dataset) != datasets.end(), "--dataset", c.dataset,
          fmt::format("unknown segmentation dataset (expected one of: {})", fmt::join(datasets, ", ")));
}

void resolve_classification(TrainConfig& c) {
  if (is_unet_name(c.arch)) {
    throw InputError(fmt::format("--arch {}: a U-Net trains with --task segmentation", c.arch));
  }
  zoo_config(c.arch);  // throws for an unknown architecture
  const std::vector<std::string> datasets = dataset_names();
  require(std::find(datasets.begin(), datasets.end(), c.dataset) != datasets.end(), "--dataset", c.dataset,
          fmt::format("unknown dataset (expected one of: {})", fmt::join(datasets, ", ")));
  if (c.stem.empty()) c.stem = zoo_config(c.arch).stem == Stem::cifar ? "cifar" : "imagenet";
}

}  // namespace

TrainConfig resolve_train_config(TrainConfig c) {
  require(one_of(c.task, {"classification", "segmentation"}), "--task", c.task,
          "expected classification or segmentation");
  if (c.arch.empty()) throw InputError("--arch is required (see `resnet list`)");
  if (c.dataset.empty()) {
    throw InputError(is_segmentation(c)
                         ? "--dataset is required (fashion-mnist-scenes, folder-seg)"
                         : "--dataset is required (fashion-mnist, mnist, cifar10, cifar100, folder)");
  }
  check_task_flags(c);
  if (is_segmentation(c)) {
    resolve_segmentation(c);
  } else {
    resolve_classification(c);
  }
  require(one_of(c.stem, {"imagenet", "cifar"}), "--stem", c.stem, "expected imagenet or cifar");
  require(one_of(c.optimizer, {"sgd", "adamw"}), "--optimizer", c.optimizer, "expected sgd or adamw");
  require(one_of(c.schedule, {"constant", "step", "multistep", "cosine", "onecycle"}), "--schedule",
          c.schedule, "expected cosine, step, multistep, onecycle or constant");
  require(one_of(c.precision, {"f32", "bf16"}), "--precision", c.precision, "expected f32 or bf16");
  if (!c.lr) c.lr = c.optimizer == "sgd" ? 0.1 : 1e-3;
  if (!c.lr_backbone) c.lr_backbone = c.lr;
  if (!c.weight_decay) c.weight_decay = c.optimizer == "adamw" ? 1e-2 : small_image_model(c) ? 5e-4 : 1e-4;

  require(c.epochs >= 1, "--epochs", std::to_string(c.epochs), "must be at least 1");
  require(c.batch_size >= 1, "--batch-size", std::to_string(c.batch_size), "must be at least 1");
  require(std::isfinite(*c.lr) && *c.lr > 0, "--lr", fmt::format("{}", *c.lr), "must be a positive number");
  require(std::isfinite(*c.weight_decay) && *c.weight_decay >= 0, "--wd", fmt::format("{}", *c.weight_decay),
          "must be >= 0");
  require(c.momentum >= 0 && c.momentum < 1, "--momentum", fmt::format("{}", c.momentum),
          "must be in [0, 1)");
  require(!c.nesterov || (c.optimizer == "sgd" && c.momentum > 0), "--nesterov", "",
          "needs --optimizer sgd and --momentum > 0");
  require(c.label_smoothing >= 0 && c.label_smoothing <= 1, "--label-smoothing",
          fmt::format("{}", c.label_smoothing), "must be in [0, 1]");
  require(c.clip_grad_norm >= 0 && std::isfinite(c.clip_grad_norm), "--clip-grad-norm",
          fmt::format("{}", c.clip_grad_norm), "must be >= 0 (0 = off)");
  require(c.warmup_epochs >= 0 && c.warmup_epochs < c.epochs, "--warmup-epochs",
          std::to_string(c.warmup_epochs), fmt::format("must be in [0, --epochs {})", c.epochs));
  require(c.warmup_epochs == 0 || c.schedule != "onecycle", "--warmup-epochs",
          std::to_string(c.warmup_epochs), "onecycle has its own warm-up; use 0");
  require(c.subset >= 0, "--subset", std::to_string(c.subset), "must be >= 0 (0 = all)");
  require(c.test_subset >= 0, "--test-subset", std::to_string(c.test_subset), "must be >= 0 (0 = all)");
  require(c.max_steps_per_epoch >= 0, "--max-steps-per-epoch", std::to_string(c.max_steps_per_epoch),
          "must be >= 0 (0 = a full pass)");
  require(c.per_class >= 0, "--per-class", std::to_string(c.per_class), "must be >= 0 (0 = all)");
  require(std::isfinite(*c.lr_backbone) && *c.lr_backbone >= 0, "--lr-backbone",
          fmt::format("{}", *c.lr_backbone), "must be >= 0");
  require(c.dropout >= 0 && c.dropout < 1, "--dropout", fmt::format("{}", c.dropout), "must be in [0, 1)");
  require(one_of(c.freeze, {"", "stem", "layer1", "layer2", "layer3", "layer4", "backbone"}), "--freeze",
          c.freeze, "expected stem, layer1, layer2, layer3, layer4 or backbone");
  require(c.non_strict == false || !c.init_weights.empty(), "--non-strict", "", "applies to --init-weights");
  require(c.image_size >= 0, "--image-size", std::to_string(c.image_size),
          "must be >= 0 (0 = the dataset's)");
  require(c.ema >= 0 && c.ema < 1, "--ema", fmt::format("{}", c.ema),
          "must be in [0, 1) (the decay; 0 = off)");
  require(c.ema_steps >= 1, "--ema-steps", std::to_string(c.ema_steps), "must be at least 1");
  require(std::isfinite(c.mixup) && c.mixup >= 0, "--mixup", fmt::format("{}", c.mixup),
          "must be >= 0 (the Beta alpha; 0 = off)");
  require(std::isfinite(c.cutmix) && c.cutmix >= 0, "--cutmix", fmt::format("{}", c.cutmix),
          "must be >= 0 (the Beta alpha; 0 = off)");
  require(c.random_erasing >= 0 && c.random_erasing <= 1, "--random-erasing",
          fmt::format("{}", c.random_erasing), "must be in [0, 1]");
  require(one_of(c.auto_augment, {"none", "ta_wide", "ra"}), "--auto-augment", c.auto_augment,
          "expected ta_wide, ra or none");
  require(c.threads >= 0, "--threads", std::to_string(c.threads), "must be >= 0 (0 = all cores)");
  require(c.workers >= 0, "--workers", std::to_string(c.workers), "must be >= 0");
  if (c.out_dir.empty()) throw InputError("--out is required: the folder for checkpoints and metrics");
  return c;
}

std::string train_config_to_json(const TrainConfig& config) {
  return to_json(config).dump(2);
}

TrainConfig train_config_from_json(const std::string& text, const std::string& source) {
  try {
    const json j = parse_run_json(text, source);
    TrainConfig c;
    c.arch = j.at("arch").get<std::string>();
    c.dataset = j.at("dataset").get<std::string>();
    c.data_dir = j.at("data").get<std::string>();
    c.stem = j.at("stem").get<std::string>();
    c.image_size = j.at("image_size").get<int>();
    c.augment = j.at("augment").get<bool>();
    c.subset = j.at("subset").get<int64_t>();
    c.test_subset = j.at("test_subset").get<int64_t>();
    // Runs from before transfer learning have none of these keys.
    c.classes = j.value("classes", std::vector<int>{});
    c.per_class = j.value("per_class", int64_t{0});
    c.init_weights = j.value("init_weights", std::string());
    c.non_strict = j.value("non_strict", false);
    c.freeze = j.value("freeze", std::string());
    if (j.contains("lr_backbone")) c.lr_backbone = j.at("lr_backbone").get<double>();
    c.dropout = j.value("dropout", 0.0f);
    c.init_report = j.value("init", std::string());
    c.epochs = j.at("epochs").get<int64_t>();
    c.batch_size = j.at("batch_size").get<int64_t>();
    c.max_steps_per_epoch = j.at("max_steps_per_epoch").get<int64_t>();
    c.optimizer = j.at("optimizer").get<std::string>();
    c.lr = j.at("lr").get<double>();
    c.weight_decay = j.at("wd").get<double>();
    c.momentum = j.at("momentum").get<double>();
    c.nesterov = j.at("nesterov").get<bool>();
    c.decay_bn_and_bias = j.at("bn_weight_decay").get<bool>();
    c.schedule = j.at("schedule").get<std::string>();
    c.warmup_epochs = j.at("warmup_epochs").get<int64_t>();
    c.label_smoothing = j.at("label_smoothing").get<double>();
    c.clip_grad_norm = j.at("clip_grad_norm").get<double>();
    c.precision = j.at("precision").get<std::string>();
    if (!j.at("seed").is_number_unsigned())  // a float or a negative number cannot be cast to uint64
      throw InputError(fmt::format("{}: \"seed\" must be an integer >= 0", source));
    c.seed = j.at("seed").get<uint64_t>();
    c.out_dir = j.at("out").get<std::string>();
    c.threads = j.at("threads").get<int>();
    c.workers = j.at("workers").get<int>();
    // Classification runs have none of the segmentation keys.
    c.task = j.value("task", std::string("classification"));
    c.loss = j.value("loss", std::string());
    c.ignore_index = j.value("ignore_index", kDefaultIgnoreIndex);
    c.encoder_depth = j.value("encoder_depth", 0);
    c.decoder_channels = j.value("decoder_channels", std::vector<int>{});
    c.skip_bad_images = j.value("skip_bad_images", false);
    // Runs from before the recipe flags have none of these keys.
    c.ema = j.value("ema", 0.0);
    c.ema_steps = j.value("ema_steps", int64_t{32});
    c.mixup = j.value("mixup", 0.0);
    c.cutmix = j.value("cutmix", 0.0);
    c.random_erasing = j.value("random_erasing", 0.0);
    c.auto_augment = j.value("auto_augment", std::string("none"));
    c.sync_bn = j.value("sync_bn", false);
    c.winograd = j.value("winograd", true);  // written only when off
    return c;
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not a training config ({})", source, excerpt(e.what())));
  }
}

std::vector<std::string> train_config_differences(const TrainConfig& a, const TrainConfig& b) {
  const json ja = to_json(a), jb = to_json(b);
  std::vector<std::string> out;
  auto compare = [&](const std::string& key) {
    const json va = ja.value(key, json()), vb = jb.value(key, json());
    if (execution_only(key) || va == vb) return;
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    out.push_back(fmt::format("{} {} (the run has {})", flag, va.dump(), vb.dump()));
  };
  for (const auto& [key, value] : ja.items()) compare(key);
  for (const auto& [key, value] : jb.items()) {
    if (!ja.contains(key)) compare(key);
  }
  return out;
}

}  // namespace resnet
