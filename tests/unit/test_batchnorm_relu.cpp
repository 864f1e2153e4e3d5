// Batch norm + ReLU in one oneDNN pass (ops::batchnorm_relu_*, BatchNorm2d::forward_relu, the residual
// blocks' "bn -> relu" stages in training): the same function and gradients as batch norm then ReLU as two
// passes.
#include <gtest/gtest.h>

#include "dnnl/ops.h"
#include "nn/batchnorm2d.h"
#include "resnet/error.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::expect_close;
using test::random_tensor;

TEST(BatchNormRelu, OnePassEqualsBatchNormThenRelu) {
  ops::set_num_threads(2);
  const Tensor x = random_tensor({4, 5, 6, 32}, 1, -2.0f, 2.0f);
  const Tensor w = random_tensor({32}, 2, 0.5f, 1.5f), b = random_tensor({32}, 3, -0.5f, 0.5f);
  Tensor mean, var, fused_mean, fused_var, mask;
  const Tensor two = ops::relu_forward(ops::batchnorm_forward_training(x, w, b, 1e-5f, mean, var));
  const Tensor one = ops::batchnorm_relu_forward_training(x, w, b, 1e-5f, fused_mean, fused_var, mask);
  expect_close(one, two, 1e-6f);
  expect_close(fused_mean, mean, 1e-7f);
  expect_close(fused_var, var, 1e-7f);

  const Tensor dy = random_tensor(x.shape(), 4);
  Tensor dw = Tensor::zeros({32}), db = Tensor::zeros({32}), fused_dw = Tensor::zeros({32}),
         fused_db = Tensor::zeros({32});
  const Tensor dx = ops::batchnorm_backward(ops::relu_backward(dy, two), x, w, mean, var, 1e-5f, dw, db);
  const Tensor fused_dx =
      ops::batchnorm_relu_backward(dy, x, w, fused_mean, fused_var, mask, 1e-5f, fused_dw, fused_db);
  expect_close(fused_dx, dx, 1e-5f);
  expect_close(fused_dw, dw, 1e-5f);
  expect_close(fused_db, db, 1e-5f);
}

TEST(BatchNormRelu, ModuleForwardReluKeepsTheMaskForItsBackwardAndOnlyTrains) {
  ops::set_num_threads(2);
  BatchNorm2d bn("bn", 16);
  const Tensor x = random_tensor({2, 3, 3, 16}, 5, -1.0f, 1.0f);
  ASSERT_TRUE(bn.fuses_relu());
  const Tensor y = bn.forward_relu(x);
  EXPECT_TRUE(bn.holds_relu_mask());
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_GE(y.f32()[i], 0.0f);
  const Tensor dx = bn.backward(Tensor::full(x.shape(), 1.0f));
  EXPECT_EQ(dx.shape(), x.shape());
  EXPECT_FALSE(bn.holds_relu_mask());
  bn.set_training(false);
  EXPECT_FALSE(bn.fuses_relu());
  EXPECT_THROW(bn.forward_relu(x), InternalError);
}

}  // namespace
}  // namespace resnet
