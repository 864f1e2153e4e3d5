// Training's convolutions under a kernel chooser (ops::set_training_kernel_chooser, what `resnet train
// --tune` installs): every pass asks it, with the shape rule's kernel first and then every other kernel that
// computes the pass — oneDNN's implementations by name, Winograd / phases / matmul where they apply; the
// kernel it picks is the one that runs, and timing the candidates never touches the caller's tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dnnl/conv_winograd.h"
#include "dnnl/kernel_chooser.h"
#include "dnnl/ops.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;
using Names = std::vector<std::string>;

// Picks pick(names) once per key, after running every candidate twice (as a timing would), and remembers it
// (chosen()); records what it was asked.
class PickingChooser : public onednn::KernelChooser {
 public:
  explicit PickingChooser(std::function<std::string(const Names&)> pick) : pick_(std::move(pick)) {}
  std::string choose(const std::string&, const std::string& key,
                     const std::vector<onednn::KernelCandidate>& candidates) override {
    Names names;
    for (const onednn::KernelCandidate& c : candidates) {
      names.push_back(c.name);
      const std::function<void()> run = c.prepare();
      run();
      run();
    }
    asked.push_back(names);
    keys.push_back(key);
    return chosen_[key] = pick_(names);
  }
  std::optional<std::string> chosen(const std::string& key) const override {
    if (auto it = chosen_.find(key); it != chosen_.end()) return it->second;
    return std::nullopt;
  }
  std::vector<Names> asked;
  std::vector<std::string> keys;

 private:
  std::function<std::string(const Names&)> pick_;
  std::map<std::string, std::string> chosen_;
};

bool is_onednn(const std::string& name) {
  return name.rfind("onednn:", 0) == 0;
}

// The first candidate called `name`, or (name "onednn:") the first of oneDNN's: its first choice.
std::function<std::string(const Names&)> first(const std::string& name) {
  return [name](const Names& names) {
    for (const std::string& n : names) {
      if (n == name || (name == "onednn:" && is_onednn(n))) return n;
    }
    ADD_FAILURE() << "no candidate " << name;
    return names.front();
  };
}

// The chooser for one scope.
class ChooserScope {
 public:
  explicit ChooserScope(onednn::KernelChooser* chooser) { ops::set_training_kernel_chooser(chooser); }
  ~ChooserScope() { ops::set_training_kernel_chooser(nullptr); }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (a.f32()[i] != b.f32()[i]) return false;
  }
  return true;
}

const Window k3x3 = Window::square(3, 1, 1);

// 32 x 32 channels at 8x8, batch 4: 16 tiles, where the rule takes Winograd for every pass.
struct Layer {
  Tensor x = random_tensor({4, 8, 8, 32}, 1);
  Tensor w = random_tensor({32, 32, 3, 3}, 2, -0.3f, 0.3f);
  Tensor bias = random_tensor({32}, 3);
  Tensor dy = random_tensor({4, 8, 8, 32}, 4);
};

Tensor direct_forward(const Layer& l) {
  const ops::ConvWinogradScope off(false);
  return ops::conv2d_forward(l.x, l.w, l.bias, k3x3);
}

TEST(TrainingKernelChoice, ForwardAndBackwardDataRunTheKernelTheChooserPicks) {
  const ops::ConvWinogradScope on(true);
  const Layer l;
  ASSERT_TRUE(ops::winograd_trains(l.x.shape(), l.w.shape(), k3x3, DType::f32));
  const Tensor winograd = ops::conv2d_forward_winograd(l.x, l.w, l.bias);
  const Tensor direct = direct_forward(l);
  ASSERT_FALSE(same_bits(winograd, direct));  // so that the result tells which ran
  const Tensor winograd_dx = ops::conv2d_backward_data_winograd(l.dy, l.w);
  Tensor direct_dx;
  {
    const ops::ConvWinogradScope off(false);
    direct_dx = ops::conv2d_backward_data(l.dy, l.w, l.x.shape(), k3x3);
  }
  for (const std::string pick : {"onednn:", "winograd"}) {
    PickingChooser chooser(first(pick));
    const ChooserScope scope(&chooser);
    const bool winograd_picked = pick == "winograd";
    EXPECT_TRUE(same_bits(ops::conv2d_forward(l.x, l.w, l.bias, k3x3), winograd_picked ? winograd : direct))
        << pick;
    EXPECT_TRUE(same_bits(ops::conv2d_backward_data(l.dy, l.w, l.x.shape(), k3x3),
                          winograd_picked ? winograd_dx : direct_dx))
        << pick;
    ASSERT_EQ(chooser.asked.size(), 2u);
    for (const Names& names : chooser.asked) {
      ASSERT_GE(names.size(), 3u);
      EXPECT_EQ(names[0], "winograd");  // the rule's kernel first
      EXPECT_TRUE(std::all_of(names.begin() + 1, names.end(), is_onednn)) << testing::PrintToString(names);
    }
    EXPECT_NE(chooser.keys[0].find("[4,8,8,32]"), std::string::npos) << chooser.keys[0];
    EXPECT_NE(chooser.keys[0].find("stride 1x1 pad 1x1"), std::string::npos) << chooser.keys[0];
  }
}

TEST(TrainingKernelChoice, TimingTheWeightGradientLeavesTheCallersGradientAlone) {
  const ops::ConvWinogradScope on(true);
  const Layer l;
  const Tensor before = random_tensor({32, 32, 3, 3}, 5);
  const Tensor bias_before = random_tensor({32}, 6);
  for (const std::string pick : {"onednn:", "winograd"}) {
    Tensor expected = before.clone(), expected_bias = bias_before.clone();
    if (pick == "winograd") {
      ops::conv2d_backward_weights_winograd(l.x, l.dy, expected, &expected_bias);
    } else {
      const ops::ConvWinogradScope off(false);
      ops::conv2d_backward_weights(l.x, l.dy, k3x3, expected, &expected_bias);
    }
    PickingChooser chooser(first(pick));
    const ChooserScope scope(&chooser);
    Tensor dw = before.clone(), dbias = bias_before.clone();
    ops::conv2d_backward_weights(l.x, l.dy, k3x3, dw, &dbias);
    ASSERT_EQ(chooser.asked.size(), 1u);
    EXPECT_TRUE(same_bits(dw, expected)) << pick << ": the gradient was added once, by the picked kernel";
    EXPECT_TRUE(same_bits(dbias, expected_bias)) << pick;
  }
}

// What a pass asks: the candidates' names, the rule's first. (A candidate that runs another convolution —
// the phases path runs a 1x1 stride-1 backward-data — has the chooser asked about that one while it runs, so
// the pass's own question is the last.)
template <class Pass>
Names candidates_of(Pass pass) {
  PickingChooser chooser(first("onednn:"));
  const ChooserScope scope(&chooser);
  pass();
  EXPECT_FALSE(chooser.asked.empty());
  return chooser.asked.empty() ? Names{} : chooser.asked.back();
}

TEST(TrainingKernelChoice, EveryConvolutionIsAskedWithOneDnnsImplementationsAndOursWhereTheyApply) {
  const ops::ConvWinogradScope on(true);
  const Tensor x = random_tensor({4, 8, 8, 32}, 7);
  // Stride 2: only oneDNN's implementations, each once, oneDNN's first choice first, no reference code.
  const Names strided = candidates_of([&] {
    ops::conv2d_forward(x, random_tensor({32, 32, 3, 3}, 8), Tensor(), Window::square(3, 2, 1));
  });
  ASSERT_GE(strided.size(), 2u) << testing::PrintToString(strided);
  for (const std::string& name : strided) {
    EXPECT_TRUE(is_onednn(name)) << name;
    EXPECT_EQ(name.find("ref"), std::string::npos) << name;
    EXPECT_EQ(std::count(strided.begin(), strided.end(), name), 1) << name;
  }
  // 3 input channels (the stem): no Winograd.
  const Names stem = candidates_of([&] {
    ops::conv2d_forward(random_tensor({4, 8, 8, 3}, 10), random_tensor({16, 3, 3, 3}, 11), Tensor(), k3x3);
  });
  EXPECT_TRUE(std::all_of(stem.begin(), stem.end(), is_onednn)) << testing::PrintToString(stem);
  // 1x1 stride 2: backward-data through the phases and the weight gradient as a matmul, the rules' kernels.
  const Window k1s2 = Window::square(1, 2, 0);
  const Tensor wide = random_tensor({2, 8, 8, 256}, 12), w1 = random_tensor({512, 256, 1, 1}, 13);
  const Tensor dy1 = random_tensor({2, 4, 4, 512}, 14);
  const Names data = candidates_of([&] { ops::conv2d_backward_data(dy1, w1, wide.shape(), k1s2); });
  ASSERT_FALSE(data.empty());
  EXPECT_EQ(data[0], "phases");
  Tensor dw1 = Tensor::zeros(w1.shape());
  const Names weights = candidates_of([&] { ops::conv2d_backward_weights(wide, dy1, k1s2, dw1, nullptr); });
  ASSERT_FALSE(weights.empty());
  EXPECT_EQ(weights[0], "matmul");
  EXPECT_TRUE(std::all_of(weights.begin() + 1, weights.end(), is_onednn)) << testing::PrintToString(weights);
  // --no-winograd: not a candidate.
  const ops::ConvWinogradScope off(false);
  const Names no_winograd = candidates_of([&] {
    ops::conv2d_forward(x, random_tensor({32, 32, 3, 3}, 15), Tensor(), k3x3);
  });
  EXPECT_TRUE(std::all_of(no_winograd.begin(), no_winograd.end(), is_onednn))
      << testing::PrintToString(no_winograd);
}

// oneDNN's verbose lines of what ran: "convolution,<implementation>,<propagation>" once per execution.
class OneDnnLog {
 public:
  OneDnnLog() {
    dnnl::set_verbose(1);
    testing::internal::CaptureStdout();
  }
  std::string text() {
    std::fflush(stdout);
    const std::string out = testing::internal::GetCapturedStdout();
    dnnl::set_verbose(0);
    return out;
  }
};

TEST(TrainingKernelChoice, ThePickedOneDnnImplementationIsTheOneThatRuns) {
  const ops::ConvWinogradScope off(false);
  const Tensor x = random_tensor({4, 8, 8, 32}, 16), w = random_tensor({32, 32, 3, 3}, 17);
  const Tensor dy = random_tensor({4, 4, 4, 32}, 18);
  const Window k3s2 = Window::square(3, 2, 1);
  // oneDNN's last implementation on the list: never its first choice.
  PickingChooser chooser([](const Names& names) { return names.back(); });
  const ChooserScope scope(&chooser);
  Tensor dw = Tensor::zeros(w.shape()), db = Tensor::zeros({32});
  auto all_passes = [&] {
    ops::conv2d_forward(x, w, Tensor(), k3s2);
    ops::conv2d_backward_data(dy, w, x.shape(), k3s2);
    ops::conv2d_backward_weights(x, dy, k3s2, dw, &db);
  };
  all_passes();  // the choices made (every candidate run)
  ASSERT_EQ(chooser.asked.size(), 3u);
  OneDnnLog log;
  all_passes();  // the chosen kernels only
  const std::string text = log.text();
  EXPECT_EQ(chooser.asked.size(), 3u) << "asked again for a choice it made";
  const char* passes[] = {"forward_inference", "backward_data", "backward_weights"};
  for (int i = 0; i < 3; ++i) {
    const std::string& picked = chooser.asked[i].back();
    ASSERT_TRUE(is_onednn(picked)) << picked;
    ASSERT_NE(picked, chooser.asked[i].front());
    const std::string ran = "convolution," + picked.substr(std::string("onednn:").size()) + "," + passes[i];
    EXPECT_NE(text.find(ran), std::string::npos) << ran << " not in\n" << text;
  }
  std::istringstream lines(text);
  int convolutions = 0;
  for (std::string line; std::getline(lines, line);) {
    convolutions +=
        line.find(",exec,") != std::string::npos && line.find(",convolution,") != std::string::npos;
  }
  EXPECT_EQ(convolutions, 3) << text;
}

}  // namespace
}  // namespace resnet
