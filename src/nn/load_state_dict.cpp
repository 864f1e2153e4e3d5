// load_state_dict: copies a file's tensors into a model's parameters and buffers, matched by name.
// Module::state_dict() hands out tensors that share storage with the model, so copying into them loads the
// model.
#include "resnet/load_state_dict.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

#include "resnet/error.h"

namespace resnet {
namespace {

// Conversions that lose nothing: bf16 weights into f32 parameters, small integers into i64 counters.
bool convertible(DType from, DType to) {
  return from == to || (from == DType::bf16 && to == DType::f32) ||
         ((from == DType::s8 || from == DType::u8) && to == DType::i64);
}

void copy_converted(const Tensor& from, Tensor& to) {
  const int64_t n = from.numel();
  if (from.dtype() == to.dtype()) {
    to.copy_from(from);
  } else if (from.dtype() == DType::bf16) {
    const auto* src = from.data_as<uint16_t>();
    float* dst = to.f32();
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
  } else if (from.dtype() == DType::s8) {
    const auto* src = from.data_as<int8_t>();
    auto* dst = to.data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    const auto* src = from.data_as<uint8_t>();
    auto* dst = to.data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// BatchNorm's step counter: PyTorch fills it in when an old file lacks it, so a file without it is not short
// of anything (torchvision's original weights predate it). It only matters for momentum=None.
bool optional_key(const std::string& name) {
  return name.ends_with("num_batches_tracked");
}

}  // namespace

std::string LoadReport::describe() const {
  std::string out;
  auto line = [&out](const std::string& text) {
    if (!out.empty()) out += '\n';
    out += text;
  };
  for (const auto& name : missing) line("missing: " + name);
  for (const auto& name : unexpected) line("unexpected: " + name);
  for (const auto& problem : mismatched) line(problem);
  return out;
}

LoadReport load_state_dict(Module& model, const StateDict& tensors, bool strict, const std::string& source) {
  std::unordered_map<std::string, const Tensor*> in_file;
  for (const NamedTensor& nt : tensors) in_file[nt.name] = &nt.tensor;

  LoadReport report;
  StateDict targets = model.state_dict();
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  std::unordered_set<std::string> in_model;
  for (NamedTensor& target : targets) {
    in_model.insert(target.name);
    auto it = in_file.find(target.name);
    if (it == in_file.end()) {
      if (!optional_key(target.name)) report.missing.push_back(target.name);
      continue;
    }
    const Tensor& file = *it->second;
    if (file.shape() != target.tensor.shape()) {
      report.mismatched.push_back(fmt::format("{}: expected {}, file has {}", target.name,
                                              shape_str(target.tensor.shape()), shape_str(file.shape())));
    } else if (!convertible(file.dtype(), target.tensor.dtype())) {
      report.mismatched.push_back(fmt::format("{}: expected dtype {}, file has {}", target.name,
                                              dtype_name(target.tensor.dtype()), dtype_name(file.dtype())));
    } else {
      copies.emplace_back(&target.tensor, &file);
    }
  }
  std::unordered_set<std::string> reported;
  for (const NamedTensor& nt : tensors) {
    if (!in_model.contains(nt.name) && reported.insert(nt.name).second) report.unexpected.push_back(nt.name);
  }

  if (strict && !report.clean()) {
    std::vector<std::string> parts;
    if (!report.missing.empty()) parts.push_back(fmt::format("missing: {}", fmt::join(report.missing, ", ")));
    if (!report.unexpected.empty())
      parts.push_back(fmt::format("unexpected: {}", fmt::join(report.unexpected, ", ")));
    parts.insert(parts.end(), report.mismatched.begin(), report.mismatched.end());
    throw InputError(fmt::format("{}state dict does not match the model: {}",
                                 source.empty() ? "" : source + ": ", fmt::join(parts, "; ")));
  }
  // Strict loads copy nothing unless everything matches; non-strict loads copy what matches.
  for (auto& [to, from] : copies) copy_converted(*from, *to);
  return report;
}

}  // namespace resnet
