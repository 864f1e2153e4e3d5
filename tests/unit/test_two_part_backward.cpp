// A Sequential of residual blocks hands a block's input gradient to the block before it in its two parts
// (branch, shortcut), which that block adds inside its output ReLU's backward pass (nn/two_part_backward.h):
// the input gradient and every parameter gradient must be the same bits as each block's own backward, which
// sums first. A whole ResNet hands the parts across its stage boundaries too, and runs the stem's bn1 -> relu
// as one pass in training: its gradients must be those of the model run module by module (a forward observer
// turns every fusion off).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "models/blocks.h"
#include "nn/activation.h"
#include "nn/batchnorm2d.h"
#include "nn/sequential.h"
#include "resnet/model.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;

BlockOptions options(int64_t inplanes, int64_t planes, int64_t stride) {
  return {.inplanes = inplanes,
          .planes = planes,
          .stride = stride,
          .reshape_shortcut = stride != 1 || inplanes != planes};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.f32(), a.f32() + a.numel(), b.f32());
}

TEST(TwoPartBackward, SequentialOfBlocksGivesTheGradientsOfEachBlocksOwnBackward) {
  Sequential layer("layer");
  layer.append<BasicBlock>(options(16, 16, 1));  // identity shortcut
  layer.append<BasicBlock>(options(16, 32, 2));  // projection shortcut
  layer.append<BasicBlock>(options(32, 32, 1));
  uint32_t seed = 40;
  for (Parameter* p : layer.parameters()) p->value = random_tensor(p->value.shape(), seed++, -0.3f, 0.3f);
  layer.set_training(true);
  const Tensor x = random_tensor({2, 8, 8, 16}, 1), dy = random_tensor({2, 4, 4, 32}, 2);

  layer.zero_grad();
  layer.forward(x);
  const Tensor dx_parts = layer.backward(dy);
  std::vector<Tensor> grads_parts;
  for (Parameter* p : layer.parameters()) grads_parts.push_back(p->grad.clone());

  layer.zero_grad();
  layer.forward(x);
  Tensor d = dy;
  for (auto it = layer.children().rbegin(); it != layer.children().rend(); ++it) d = (*it)->backward(d);

  EXPECT_TRUE(same_bits(dx_parts, d));
  const std::vector<Parameter*> params = layer.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(same_bits(grads_parts[i], params[i]->grad)) << params[i]->name;
}

TEST(TwoPartBackward, ReluSumsTheTwoPartsItIsGiven) {
  ReLU relu("relu");
  relu.set_training(true);
  const Tensor x = random_tensor({2, 3, 3, 16}, 3), a = random_tensor(x.shape(), 4),
               b = random_tensor(x.shape(), 5);
  relu.forward(x);
  const Tensor summed = relu.backward(ops::add(a, b));
  relu.forward(x);
  Tensor other = b;
  const Tensor parts = relu.backward_parts(a.clone(), b, other);
  EXPECT_FALSE(other.defined());
  EXPECT_TRUE(same_bits(parts, summed));
}

// One training step's gradients (input and parameters) of `arch`, with or without a forward observer.
std::vector<Tensor> step_gradients(const std::string& arch, const Shape& x_shape, bool observed) {
  ResNet model(zoo_config(arch, 10, x_shape[3]), /*seed=*/21);
  model.set_training(true);
  if (observed) Module::set_forward_observer([](const Module&, const Tensor&, const Tensor&) {});
  const Tensor x = random_tensor(x_shape, 22);
  model.zero_grad();
  const Tensor logits = model.forward(x);
  const auto& children = model.children();
  auto* stem_bn = dynamic_cast<BatchNorm2d*>(children[1]);
  EXPECT_TRUE(stem_bn != nullptr && stem_bn->holds_relu_mask() == !observed) << arch;
  std::vector<Tensor> grads = {model.backward(random_tensor(logits.shape(), 23))};
  Module::set_forward_observer(nullptr);
  for (Parameter* p : model.parameters()) grads.push_back(p->grad.clone());
  return grads;
}

TEST(TwoPartBackward, ResNetGivesTheGradientsOfItsModulesRunOneByOne) {
  ops::set_num_threads(2);
  for (const auto& [arch, shape] : {std::pair<std::string, Shape>{"resnet20", {4, 16, 16, 1}},
                                    std::pair<std::string, Shape>{"resnet18", {2, 64, 64, 3}}}) {
    const std::vector<Tensor> fused = step_gradients(arch, shape, false);
    const std::vector<Tensor> one_by_one = step_gradients(arch, shape, true);
    ASSERT_EQ(fused.size(), one_by_one.size());
    for (size_t i = 0; i < fused.size(); ++i) {
      SCOPED_TRACE(arch + " gradient " + std::to_string(i));
      test::expect_close(fused[i], one_by_one[i], 2e-4f);
    }
  }
}

}  // namespace
}  // namespace resnet
