#include "dnnl/training_kernel.h"

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <optional>

#include "dnnl/ops.h"

namespace resnet::ops {
namespace {

std::atomic<onednn::KernelChooser*> training_chooser{nullptr};  // ops.h: set_training_kernel_chooser

constexpr std::string_view kOneDnnPrefix = "onednn:";

bool is_onednn(const std::string& kernel) {
  return kernel == kOneDnn || kernel.starts_with(kOneDnnPrefix);
}

// "stride 2 pad 1", and dilation / groups when they are not 1.
std::string window_text(const Window& win) {
  std::string text = fmt::format("stride {}x{} pad {}x{}", win.stride_h, win.stride_w, win.pad_h, win.pad_w);
  if (win.dilation_h != 1 || win.dilation_w != 1)
    text += fmt::format(" dilation {}x{}", win.dilation_h, win.dilation_w);
  if (win.groups != 1) text += fmt::format(" groups {}", win.groups);
  return text;
}

}  // namespace

void set_training_kernel_chooser(onednn::KernelChooser* chooser) {
  training_chooser = chooser;
}

onednn::KernelChooser* training_kernel_chooser() {
  return training_chooser;
}

std::string implementation_of(const std::string& kernel) {
  return kernel.starts_with(kOneDnnPrefix) ? kernel.substr(kOneDnnPrefix.size()) : "";
}

std::string training_kernel(const std::string& pass, const Shape& x, const Shape& w, const Window& win,
                            DType dtype, const std::string& rule,
                            const std::function<PassKernels()>& kernels) {
  onednn::KernelChooser* chooser = training_kernel_chooser();
  if (!chooser) return rule;
  const std::string step = fmt::format("{} x {} w {} {}", pass, shape_str(x), shape_str(w), window_text(win));
  const std::string key = fmt::format("train {} {}: rule {}", step, dtype_name(dtype), rule);
  if (const std::optional<std::string> known = chooser->chosen(key)) return *known;

  const PassKernels k = kernels();
  std::vector<onednn::KernelCandidate> theirs;
  for (const std::string& implementation : k.onednn_implementations) {
    theirs.push_back({std::string(kOneDnnPrefix) + implementation, k.onednn_run(implementation), {}});
  }
  std::vector<onednn::KernelCandidate> candidates;
  auto append = [&](const std::vector<onednn::KernelCandidate>& from, bool rules) {
    for (const onednn::KernelCandidate& c : from) {
      if ((c.name == rule) == rules) candidates.push_back(c);
    }
  };
  if (is_onednn(rule)) {
    candidates = theirs;
  } else {
    append(k.ours, true);
    candidates.insert(candidates.end(), theirs.begin(), theirs.end());
  }
  append(k.ours, false);
  return chooser->choose(step, key, candidates);
}

RunFactory run_as_is(std::function<void()> run) {
  return [run = std::move(run)] { return run; };
}

RunFactory into_scratch(const Tensor& dw, const Tensor* dbias,
                        std::function<void(Tensor& dw, Tensor* dbias)> add_weight_gradient) {
  return [=, &dw] {
    auto scratch = std::make_shared<Tensor>(Tensor::zeros(dw.shape()));
    auto scratch_bias = dbias ? std::make_shared<Tensor>(Tensor::zeros(dbias->shape())) : nullptr;
    return std::function<void()>([=] { add_weight_gradient(*scratch, scratch_bias.get()); });
  };
}

}  // namespace resnet::ops
