// A Sequential of residual blocks hands a block's input gradient to the block before it in its two parts
// (branch, shortcut), which that block adds inside its output ReLU's backward pass (nn/two_part_backward.h):
// the input gradient and every parameter gradient must be the same bits as each block's own backward, which
// sums first.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "models/blocks.h"
#include "nn/sequential.h"
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

}  // namespace
}  // namespace resnet
