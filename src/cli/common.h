// Pieces every subcommand shares: model flags, building a model from them, shape parsing, thread setup.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "resnet/calibration.h"
#include "resnet/model.h"

namespace resnet::cli {

struct ModelOptions {
  std::string arch;
  std::string weights;  // empty: seeded torchvision-style init
  int num_classes = 0;  // 0: the architecture's default (1000, or 10 for the CIFAR networks)
  int in_channels = 3;
  bool non_strict = false;
  uint64_t seed = 0;
};

// --arch (required), --num-classes, --in-channels; with_weights adds --weights and --non-strict.
void add_model_options(CLI::App& cmd, ModelOptions& options, bool with_weights);
// Builds the model, loads --weights if given (strict unless --non-strict; the report goes to stderr).
// init: Init::none where only the structure matters (summary, print). The quant.* scales of an
// .int8.safetensors file (resnet quantize) are not model weights: they go to *int8 if asked for (else to
// nowhere; *int8 stays null for a plain weights file).
std::unique_ptr<ResNet> build_model(const ModelOptions& options, Init init = Init::torchvision,
                                    std::shared_ptr<const Int8Calibration>* int8 = nullptr);
// Loads a weights file, moving its quant.* scales (if any) into *int8.
StateDict load_model_weights(const std::string& path, std::shared_ptr<const Int8Calibration>* int8);
// Loads `weights` (read from `source`) into the model: strict unless non_strict; the report goes to stderr.
void load_into_model(ResNet& model, const StateDict& weights, const std::string& source, bool non_strict);

// --threads N (default: all cores).
void add_threads_option(CLI::App& cmd, int& threads);
void apply_threads(int threads);

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
