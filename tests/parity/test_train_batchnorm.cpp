// Train-mode BatchNorm parity: one forward of torchvision's model in train mode (batch statistics) gives the
// same output, and leaves the same state_dict: every running_mean / running_var updated with momentum 0.1 and
// the unbiased batch variance, num_batches_tracked = 1, parameters untouched.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/model.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

constexpr double kRunningStatsTolerance = 1e-4;  // per tensor: max |ours - torch| <= this * max |torch|

class ParityTrainBatchNorm : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (fixtures_dir().empty()) GTEST_SKIP() << "RESNET_FIXTURES is not set";
    model_ = build_fixture_model(GetParam());
    const std::string weights = fixture_path(GetParam() + ".pth");
    load_state_dict(*model_, load_weights(weights), /*strict=*/true, weights);
    model_->set_training(true);
    output_ = model_->forward(nchw_to_nhwc(load_fixture_npy(GetParam() + ".train.input.npy")));
  }
  std::unique_ptr<ResNet> model_;
  Tensor output_;
};

TEST_P(ParityTrainBatchNorm, OneTrainForwardGivesTorchvisionsOutput) {
  const Tensor expected = load_fixture_npy(GetParam() + ".train.output.npy");
  ASSERT_EQ(shape_str(output_.shape()), shape_str(expected.shape()));
  const Difference d = difference(output_, expected);
  report_difference(GetParam() + " train output", d);
  EXPECT_LE(d.ratio(), kLogitsTolerance);
}

TEST_P(ParityTrainBatchNorm, OneTrainForwardUpdatesEveryBufferAsTorchvision) {
  const std::string after_path = fixture_path(GetParam() + ".train.after.safetensors");
  std::map<std::string, Tensor> after;
  for (const NamedTensor& t : load_weights(after_path)) after[t.name] = t.tensor;

  const StateDict ours = model_->state_dict();
  ASSERT_EQ(ours.size(), after.size());
  double worst = 0;
  std::string worst_name;
  int running_stats = 0;
  for (const NamedTensor& t : ours) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(after.count(t.name)) << "not in " << after_path;
    const Tensor& expected = after.at(t.name);
    ASSERT_EQ(shape_str(t.tensor.shape()), shape_str(expected.shape()));
    if (t.name.ends_with("num_batches_tracked")) {
      ASSERT_EQ(t.tensor.dtype(), DType::i64);
      ASSERT_EQ(expected.dtype(), DType::i64);
      EXPECT_EQ(t.tensor.data_as<int64_t>()[0], expected.data_as<int64_t>()[0]);
      EXPECT_EQ(t.tensor.data_as<int64_t>()[0], 1);
    } else if (t.name.ends_with("running_mean") || t.name.ends_with("running_var")) {
      const Difference d = difference(t.tensor, expected);
      if (d.ratio() >= worst) {
        worst = d.ratio();
        worst_name = t.name;
      }
      EXPECT_LE(d.ratio(), kRunningStatsTolerance)
          << "max |ours - torch| = " << d.max_abs << ", max |torch| = " << d.max_reference;
      ++running_stats;
    } else {  // parameters: a forward does not change them
      EXPECT_EQ(difference(t.tensor, expected).max_abs, 0.0);
    }
  }
  EXPECT_GT(running_stats, 0);
  ::testing::Test::RecordProperty("max_diff_ratio", std::to_string(worst));
  std::printf("[ parity   ] %s: %d running statistics, worst %s: max|ours - torch| / max|torch| = %.3g\n",
              GetParam().c_str(), running_stats, worst_name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Models, ParityTrainBatchNorm, ::testing::Values("resnet18", "resnet50"),
                         [](const auto& info) { return param_name(info.param); });

}  // namespace
}  // namespace resnet::parity
