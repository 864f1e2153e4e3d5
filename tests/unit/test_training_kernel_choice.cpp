// Training's convolutions under a kernel chooser (ops::set_training_kernel_chooser, what `resnet train
// --tune` installs): where Winograd and oneDNN's direct kernel both compute a convolution, the chooser is
// asked with the shape rule's kernel first, the kernel it picks is the one that runs, and timing the
// candidates never touches the caller's tensors; elsewhere it is not asked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dnnl/conv_winograd.h"
#include "dnnl/kernel_chooser.h"
#include "dnnl/ops.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;

// Picks `pick`, after running every candidate twice (as a timing would); records what it was asked.
class PickingChooser : public onednn::KernelChooser {
 public:
  explicit PickingChooser(std::string pick) : pick_(std::move(pick)) {}
  std::string choose(const std::string&, const std::string& key,
                     const std::vector<onednn::KernelCandidate>& candidates) override {
    std::vector<std::string> names;
    for (const onednn::KernelCandidate& c : candidates) {
      names.push_back(c.name);
      const std::function<void()> run = c.prepare();
      run();
      run();
    }
    asked.push_back(names);
    keys.push_back(key);
    return pick_;
  }
  std::vector<std::vector<std::string>> asked;
  std::vector<std::string> keys;

 private:
  std::string pick_;
};

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
  for (const std::string pick : {"direct", "winograd"}) {
    PickingChooser chooser(pick);
    const ChooserScope scope(&chooser);
    const bool winograd_picked = pick == "winograd";
    EXPECT_TRUE(same_bits(ops::conv2d_forward(l.x, l.w, l.bias, k3x3), winograd_picked ? winograd : direct))
        << pick;
    EXPECT_TRUE(same_bits(ops::conv2d_backward_data(l.dy, l.w, l.x.shape(), k3x3),
                          winograd_picked ? winograd_dx : direct_dx))
        << pick;
    ASSERT_EQ(chooser.asked.size(), 2u);
    for (const auto& names : chooser.asked) {
      EXPECT_EQ(names, (std::vector<std::string>{"winograd", "direct"}));  // the rule's kernel first
    }
    EXPECT_NE(chooser.keys[0].find("[4,8,8,32]"), std::string::npos) << chooser.keys[0];
  }
}

TEST(TrainingKernelChoice, TimingTheWeightGradientLeavesTheCallersGradientAlone) {
  const ops::ConvWinogradScope on(true);
  const Layer l;
  const Tensor before = random_tensor({32, 32, 3, 3}, 5);
  const Tensor bias_before = random_tensor({32}, 6);
  for (const std::string pick : {"direct", "winograd"}) {
    Tensor expected = before.clone(), expected_bias = bias_before.clone();
    if (pick == "winograd") {
      ops::conv2d_backward_weights_winograd(l.x, l.dy, expected, &expected_bias);
    } else {
      const ops::ConvWinogradScope off(false);
      ops::conv2d_backward_weights(l.x, l.dy, k3x3, expected, &expected_bias);
    }
    PickingChooser chooser(pick);
    const ChooserScope scope(&chooser);
    Tensor dw = before.clone(), dbias = bias_before.clone();
    ops::conv2d_backward_weights(l.x, l.dy, k3x3, dw, &dbias);
    ASSERT_EQ(chooser.asked.size(), 1u);
    EXPECT_TRUE(same_bits(dw, expected)) << pick << ": the gradient was added once, by the picked kernel";
    EXPECT_TRUE(same_bits(dbias, expected_bias)) << pick;
  }
}

TEST(TrainingKernelChoice, NotAskedWhereOnlyOneKernelComputesIt) {
  const ops::ConvWinogradScope on(true);
  PickingChooser chooser("winograd");
  const ChooserScope scope(&chooser);
  const Tensor x = random_tensor({4, 8, 8, 32}, 7);
  ops::conv2d_forward(x, random_tensor({32, 32, 3, 3}, 8), Tensor(), Window::square(3, 2, 1));  // stride 2
  ops::conv2d_forward(x, random_tensor({64, 32, 1, 1}, 9), Tensor(), Window::square(1, 1, 0));  // 1x1
  ops::conv2d_forward(random_tensor({4, 8, 8, 3}, 10), random_tensor({16, 3, 3, 3}, 11), Tensor(),
                      k3x3);  // 3 input channels: no Winograd
  EXPECT_TRUE(chooser.asked.empty());
  {
    const ops::ConvWinogradScope off(false);  // --no-winograd: nothing to choose
    ops::conv2d_forward(x, random_tensor({32, 32, 3, 3}, 12), Tensor(), k3x3);
  }
  EXPECT_TRUE(chooser.asked.empty());
}

}  // namespace
}  // namespace resnet
