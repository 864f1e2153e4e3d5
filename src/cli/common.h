// Pieces every subcommand shares: model flags, building a model from them, shape parsing, thread setup.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resnet/calibration.h"
#include "resnet/data.h"
#include "resnet/model.h"
#include "resnet/train.h"
#include "resnet/unet.h"

namespace resnet::cli {

struct ModelOptions {
  std::string arch;
  std::string weights;  // empty: seeded torchvision-style init
  int num_classes = 0;  // 0: the architecture's default (1000, or 10 for the CIFAR networks)
  int in_channels = 3;
  bool non_strict = false;
  uint64_t seed = 0;
  // U-Nets only (smp's encoder_depth and decoder_channels): 0 and "" = the defaults (5; 256,128,64,32,16 cut
  // to the depth).
  int encoder_depth = 0;
  std::string decoder_channels;  // "a,b,..."
  std::string stem;              // --stem: "" keeps the architecture's own (add_backbone_options)
  std::string dilation;          // --dilation a,b,c: replace_stride_with_dilation of stages 2-4; "" = none
};

// --arch (required), --num-classes, --in-channels, --encoder-depth, --decoder-channels; with_weights adds
// --weights and --non-strict.
void add_model_options(CLI::App& cmd, ModelOptions& options, bool with_weights);
// --stem imagenet|cifar and --dilation a,b,c (torchvision's replace_stride_with_dilation, each 0 or 1), for
// the commands that look at a backbone (features, summary).
void add_backbone_options(CLI::App& cmd, ModelOptions& options);
// "0,1,1" -> {false, true, true}; anything else: InputError naming --dilation.
std::array<bool, 3> parse_dilation(const std::string& text);
// Builds the model, loads --weights if given (strict unless --non-strict; the report goes to stderr).
// init: Init::none where only the structure matters (summary, print). The quant.* scales of an
// .int8.safetensors file (resnet quantize) are not model weights: they go to *int8 if asked for (else to
// nowhere; *int8 stays null for a plain weights file).
// A classifier only: a U-Net --arch is an InputError naming the subcommand's limits.
std::unique_ptr<ResNet> build_model(const ModelOptions& options, Init init = Init::torchvision,
                                    std::shared_ptr<const Int8Calibration>* int8 = nullptr);
// Either kind, as --arch names it: a ResNet classifier or a U-Net ("unet-<encoder>", resnet/unet.h).
std::unique_ptr<Module> build_any_model(const ModelOptions& options, Init init = Init::torchvision,
                                        std::shared_ptr<const Int8Calibration>* int8 = nullptr);
// The U-Net an --arch "unet-..." and the U-Net flags describe.
UNetConfig unet_config(const ModelOptions& options);
// Loads a weights file, moving its quant.* scales (if any) into *int8.
StateDict load_model_weights(const std::string& path, std::shared_ptr<const Int8Calibration>* int8);
// Loads `weights` (read from `source`) into the model: strict unless non_strict; the report goes to stderr.
void load_into_model(Module& model, const StateDict& weights, const std::string& source, bool non_strict);

// Image models (predict, explain): where a model's input conventions come from. When a config.json lies
// beside the weights (a run folder of `resnet train`), its "dataset_info" gives the class names, the
// channels, the Normalize statistics and the image size, and its "stem" the model's stem; otherwise the model
// is an ImageNet classifier (3 channels, ImageNet's mean/std, the 1000 ImageNet names when it has 1000
// classes). The class count and input channels are read off the weights (fc.weight, conv1.weight).

// The run folder of `resnet train` the weights file lies in, if it is one.
struct RunRecord {
  TrainConfig config;
  std::optional<DatasetInfo> data;  // absent in runs written before config.json recorded it
};
// nullopt also when a config.json is there but not a run's (a warning on stderr).
std::optional<RunRecord> find_run(const std::string& weights_path);
// `arch` with the class count and input channels of `weights` (read from `source`) and the run's stem;
// the weights loaded strictly; eval mode.
std::unique_ptr<ResNet> build_model_for_weights(const std::string& arch, const StateDict& weights,
                                                const std::string& source,
                                                const std::optional<RunRecord>& run);
// What the images must look like for this model: channels, Normalize statistics, image size and class names.
// A model of other than 3 channels needs its run's dataset_info (InputError naming the weights otherwise).
DatasetInfo input_conventions(const std::string& weights_path, const std::optional<RunRecord>& run,
                              int channels);
// labels_flag: "imagenet" | FILE (one name per line) | "" (the run's class names, else ImageNet's for 1000
// classes, else none: class indices). InputError when the count differs from `classes`.
std::vector<std::string> choose_labels(const std::string& labels_flag, const std::string& weights_path,
                                       const std::optional<RunRecord>& run, int64_t classes);
// The evaluation transform for a crop side of size_flag (0: the side the model learnt from, else 224).
TransformSpec predict_transform(const DatasetInfo& data, const std::optional<RunRecord>& run, int size_flag);

// --threads N (default: all cores).
void add_threads_option(CLI::App& cmd, int& threads);
void apply_threads(int threads);

// One line on stderr when bf16 convolutions are slower than f32 ones on this CPU (dnnl/bf16_speed.h), so that
// `flag` bf16 ("--dtype", "--precision") never runs slower silently; nothing where bf16 is faster.
void note_if_bf16_is_slower(std::string_view flag);

// --no-fuse (the model layer by layer) and --no-winograd (f32 plan: direct 3x3 convolutions), as infer and
// features take them.
void add_plan_flags(CLI::App& cmd, bool& no_fuse, bool& no_winograd);

// --tune / --no-tune: tune the plan's convolutions per machine (PlanOptions::tune, the tuning cache).
struct TuneFlags {
  bool tune = false;
  bool no_tune = false;
};
// on_when_cached: the help says tuning is on by default where this machine's tuning cache exists.
void add_tune_flags(CLI::App& cmd, TuneFlags& flags, bool on_when_cached);
// --tune, --no-tune, else (on_when_cached: bench, infer) whether the tuning cache holds this machine's
// choices.
bool want_tuning(const TuneFlags& flags, bool on_when_cached);

// "3x224x224" -> {3, 224, 224}; throws InputError naming the flag.
std::array<int64_t, 3> parse_chw(const std::string& text, const std::string& flag);

// Each subcommand registers itself on the app.
void register_list(CLI::App& app);
void register_summary(CLI::App& app);
void register_print(CLI::App& app);
void register_infer(CLI::App& app);
void register_convert(CLI::App& app);
void register_bench(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_quantize(CLI::App& app);
void register_plot(CLI::App& app);
void register_predict(CLI::App& app);
void register_explain(CLI::App& app);
void register_dataset(CLI::App& app);
void register_features(CLI::App& app);
void register_segment(CLI::App& app);
void register_export(CLI::App& app);
void register_experiment(CLI::App& app);

// Image inputs of predict-like commands: each IMAGE as given, each DIR's images (find_images: .jpg, .jpeg,
// .png under it, sorted). A DIR without images is one error line on stderr and one more in `failures`.
std::vector<std::string> expand_image_inputs(const std::vector<std::string>& inputs, int& failures);

// `summary --features` (cmd_features.cpp): each stage's name, channels, reduction and feature shape [1,C,h,w]
// for an input CxHxW; json: one JSON object.
void print_feature_summary(ResNet& model, const std::string& arch, const std::array<int64_t, 3>& chw,
                           bool json);

// Thrown by a subcommand that has already reported its errors (e.g. one line per unreadable image) and only
// needs the process to exit with `status`: main prints nothing more.
struct ExitStatus {
  int status = 0;
};

}  // namespace resnet::cli

namespace resnet::cli {
// 11689512 -> "11,689,512"
std::string with_commas(int64_t value);
}  // namespace resnet::cli
