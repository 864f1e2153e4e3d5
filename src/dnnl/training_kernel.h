// Which kernel a training convolution pass runs (conv.cpp): the shape rules' kernel, or — with a training
// kernel chooser set (ops.h: set_training_kernel_chooser, what `--tune` installs) — its timed choice among
// every kernel that computes the pass. Kernels are named: ours "winograd", "phases", "matmul"; oneDNN's
// "onednn:" + its implementation name ("onednn:jit:avx512_core", dnnl/implementations.h); "onednn" alone is
// the rules' name for oneDNN's first choice.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/window.h"
#include "dnnl/kernel_chooser.h"
#include "resnet/tensor.h"

namespace resnet::ops {

inline constexpr std::string_view kOneDnn = "onednn";

// The oneDNN implementation a kernel name asks for: "" for oneDNN's first choice ("onednn").
std::string implementation_of(const std::string& kernel);

// Makes a candidate ready to time: allocates what it needs and returns one synchronous run.
using RunFactory = std::function<std::function<void()>()>;

// A candidate with nothing to prepare: `run`, each time it is timed.
RunFactory run_as_is(std::function<void()> run);

// What can compute one training pass: our kernels that apply to it, and oneDNN's implementations (their
// names, oneDNN's first choice first, and how to run one).
struct PassKernels {
  std::vector<onednn::KernelCandidate> ours;
  std::vector<std::string> onednn_implementations;
  std::function<RunFactory(const std::string& implementation)> onednn_run;
};

// The kernel a training pass runs: `rule` (a name above) without a chooser; with one, its choice among every
// kernel that computes the pass — kernels(), built only when the chooser has not chosen for this key yet —
// the rule's kernel first (kept unless another is faster), then oneDNN's, then ours. pass ("conv2d forward"),
// the shapes x [N,H,W,C], w [K,C,KH,KW], the window and dtype make the chooser's key: "train conv2d forward x
// [128,28,28,16] w [16,16,3,3] stride 1x1 pad 1x1 f32: rule onednn".
std::string training_kernel(const std::string& pass, const Shape& x, const Shape& w, const Window& window,
                            DType dtype, const std::string& rule,
                            const std::function<PassKernels()>& kernels);

// A weight-gradient candidate: add_weight_gradient into zeros of dw's (and *dbias's, unless null) shape of
// its own, never into the caller's gradients.
RunFactory into_scratch(const Tensor& dw, const Tensor* dbias,
                        std::function<void(Tensor& dw, Tensor* dbias)> add_weight_gradient);

}  // namespace resnet::ops
