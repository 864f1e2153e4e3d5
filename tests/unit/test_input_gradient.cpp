// Training asks no gradient of the images (set_input_gradient(false), as torch's inputs do not require grad):
// the stem convolution skips its backward-data, backward returns an undefined tensor, and every parameter
// gradient is bit for bit what it is with the input gradient.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "resnet/model.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;

void expect_same_parameter_gradients_without_the_input_gradient(const std::string& arch, int64_t size) {
  SCOPED_TRACE(arch);
  ResNet with(zoo_config(arch, 10, 3), 7), without(zoo_config(arch, 10, 3), 7);
  without.set_input_gradient(false);
  const Tensor x = random_tensor({2, size, size, 3}, 1);
  const Tensor dlogits = random_tensor({2, 10}, 2);
  Tensor dx[2];
  ResNet* models[2] = {&with, &without};
  for (int i = 0; i < 2; ++i) {
    models[i]->set_training(true);
    models[i]->forward(x);
    dx[i] = models[i]->backward(dlogits);
  }
  EXPECT_TRUE(dx[0].defined());
  EXPECT_EQ(dx[0].shape(), x.shape());
  EXPECT_FALSE(dx[1].defined()) << "no input gradient was asked for";
  const std::vector<Parameter*> a = with.parameters(), b = without.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(a[i]->grad.defined() && b[i]->grad.defined()) << a[i]->name;
    EXPECT_EQ(std::memcmp(a[i]->grad.f32(), b[i]->grad.f32(), sizeof(float) * a[i]->grad.numel()), 0)
        << a[i]->name;
  }
}

TEST(InputGradient, TrainingWithoutItGivesTheSameParameterGradients) {
  expect_same_parameter_gradients_without_the_input_gradient("resnet20", 16);  // the CIFAR stem
  expect_same_parameter_gradients_without_the_input_gradient("resnet18", 32);  // the 7x7/2 stem
}

TEST(InputGradient, ItCanBeAskedForAgain) {
  ResNet model(zoo_config("resnet20", 10, 3), 7);
  model.set_input_gradient(false);
  model.set_input_gradient(true);
  model.set_training(true);
  const Tensor logits = model.forward(random_tensor({2, 16, 16, 3}, 1));
  EXPECT_TRUE(model.backward(random_tensor(logits.shape(), 2)).defined());
}

}  // namespace
}  // namespace resnet
