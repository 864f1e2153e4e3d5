// load_pretrained: the file's state_dict, with the classifier and the first convolution reconciled with the
// model as timm does, loaded through load_state_dict (which checks everything else).
#include "resnet/pretrained.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <unordered_map>

#include "nn/linear.h"
#include "resnet/error.h"
#include "resnet/load_state_dict.h"
#include "resnet/weights.h"
#include "train/checkpoint.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFirstConv = "conv1.weight";

Tensor as_f32(const Tensor& t, const std::string& name, const std::string& file) {
  if (t.dtype() == DType::f32) return t;
  if (t.dtype() != DType::bf16) {
    throw InputError(
        fmt::format("{}: {} is {}, expected a floating-point weight", file, name, dtype_name(t.dtype())));
  }
  Tensor out(t.shape());
  const auto* in = t.data_as<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) out.f32()[i] = bf16_to_f32(in[i]);
  return out;
}

// timm's adapt_input_conv for a 3-channel weight [O, 3, KH, KW] -> [O, C, KH, KW]: C = 1 sums R, G, B; any
// other C repeats R, G, B cyclically and scales by 3 / C (so that the response to a gray image is kept).
Tensor adapt_input_conv(const Tensor& rgb, int64_t channels) {
  const int64_t out = rgb.dim(0), taps = rgb.dim(2) * rgb.dim(3);
  Tensor adapted({out, channels, rgb.dim(2), rgb.dim(3)});
  const float* src = rgb.f32();
  float* dst = adapted.f32();
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t k = 0; k < taps; ++k) {
        const float* rgb_tap = src + o * 3 * taps + k;
        dst[(o * channels + c) * taps + k] = channels == 1
                                                 ? rgb_tap[0] + rgb_tap[taps] + rgb_tap[2 * taps]
                                                 : rgb_tap[(c % 3) * taps] * (3.0f / float(channels));
      }
    }
  }
  return adapted;
}

// A sub-model (path "encoder") holds the file's names under its prefix; one without a classifier has no
// use for the file's. Returns the names dropped.
std::vector<std::string> place_under_prefix(StateDict& tensors, ResNet& model) {
  std::vector<std::string> dropped;
  if (model.path().empty()) return dropped;
  const bool has_classifier = dynamic_cast<Linear*>(model.children().back()) != nullptr;
  StateDict kept;
  for (NamedTensor& t : tensors) {
    if (!has_classifier && (t.name == "fc.weight" || t.name == "fc.bias")) {
      dropped.push_back(t.name);
      continue;
    }
    kept.push_back({model.path() + "." + t.name, std::move(t.tensor)});
  }
  tensors = std::move(kept);
  return dropped;
}

}  // namespace

// The file's tensors by name; a run's state (or run folder) gives the model of its last committed epoch.
StateDict read_pretrained_weights(const std::string& file) {
  if (fs::is_directory(file)) return load_run_state(RunFiles(file)).model;
  StateDict tensors = load_weights(file);
  return is_run_state(tensors) ? model_of_run_state(tensors) : tensors;
}

std::string PretrainedReport::describe() const {
  std::string text = fmt::format("init: {} tensors loaded from {}", loaded, source);
  if (!reinitialised.empty()) {
    text += fmt::format("; {} re-initialised ({} -> {} classes)", fmt::join(reinitialised, ", "),
                        file_classes, model_classes);
  }
  if (!adapted.empty()) {
    text += fmt::format("; {} adapted ({} -> {} channels)", fmt::join(adapted, ", "), file_channels,
                        model_channels);
  }
  if (!dropped.empty()) text += fmt::format("; {} dropped (no classifier)", fmt::join(dropped, ", "));
  if (!skipped.empty()) text += fmt::format("; skipped: {}", fmt::join(skipped, "; "));
  return text;
}

PretrainedReport load_pretrained(ResNet& model, const std::string& file, const PretrainedOptions& options) {
  return load_pretrained(model, read_pretrained_weights(file), file, options);
}

PretrainedReport load_pretrained(ResNet& model, StateDict tensors, const std::string& file,
                                 const PretrainedOptions& options) {
  PretrainedReport report;
  report.source = fs::path(file).filename().string();
  report.dropped = place_under_prefix(tensors, model);
  const std::string first_conv = (model.path().empty() ? "" : model.path() + ".") + kFirstConv;

  std::unordered_map<std::string, Tensor> in_model;
  for (const NamedTensor& t : model.state_dict()) in_model.emplace(t.name, t.tensor);
  auto* classifier = dynamic_cast<Linear*>(model.children().back());
  const std::string fc_weight = classifier ? classifier->weight().name : "";
  const std::string fc_bias = classifier && classifier->bias() ? classifier->bias()->name : "";
  const int64_t fc_in = classifier ? classifier->weight().value.dim(1) : 0;

  for (NamedTensor& t : tensors) {
    auto mine = in_model.find(t.name);
    if (mine == in_model.end() || mine->second.shape() == t.tensor.shape()) continue;
    const Shape& want = mine->second.shape();
    const Shape& have = t.tensor.shape();
    const bool other_classes = (t.name == fc_weight && have.size() == 2 && have[1] == fc_in) ||
                               (t.name == fc_bias && have.size() == 1);
    if (other_classes) {
      report.reinitialised.push_back(t.name);
      report.file_classes = have[0];
      report.model_classes = want[0];
      t.tensor = mine->second.clone();  // the model's own initialisation, "loaded" onto itself
    } else if (t.name == first_conv && have.size() == 4 && have[1] == 3 && have[0] == want[0] &&
               have[2] == want[2] && have[3] == want[3]) {
      t.tensor = adapt_input_conv(as_f32(t.tensor, t.name, file), want[1]);
      report.adapted.push_back(t.name);
      report.file_channels = 3;
      report.model_channels = want[1];
    }
  }

  const LoadReport loaded = load_state_dict(model, tensors, options.strict, file);
  for (const std::string& name : loaded.missing) report.skipped.push_back(name + ": not in the file");
  for (const std::string& name : loaded.unexpected) report.skipped.push_back(name + ": not in the model");
  report.skipped.insert(report.skipped.end(), loaded.mismatched.begin(), loaded.mismatched.end());
  std::unordered_map<std::string, bool> copied;
  for (const NamedTensor& t : tensors) copied[t.name] = in_model.contains(t.name);
  for (const std::string& m : loaded.mismatched) copied[m.substr(0, m.find(':'))] = false;
  for (const auto& [name, was_copied] : copied) report.loaded += was_copied ? 1 : 0;
  report.loaded -= int64_t(report.reinitialised.size());
  return report;
}

}  // namespace resnet
