// The segmentation losses against torch and segmentation_models_pytorch 0.6 (fixtures by
// tests/oracle/make_segmentation_loss_fixtures.py, float64 references from the same float32 logits): the loss
// within 1e-5 relative and dL/dlogits within 1e-4 (max |ours - torch| / max |torch|), for per-pixel
// cross-entropy, smp's Dice and their sum, multiclass (with ignored pixels, an absent class, ignore index 0)
// and binary (K = 1).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "parity/fixtures.h"
#include "resnet/segmentation_loss.h"

namespace resnet::parity {
namespace {

constexpr double kLossTolerance = 1e-5;
constexpr double kGradTolerance = 1e-4;

std::string case_file(const std::string& file) {
  return "segmentation_loss/" + file;
}

// The fixture's f32 mask values as a u8 [N,H,W] tensor.
Tensor mask_tensor(const Tensor& values) {
  Tensor mask(values.shape(), DType::u8);
  for (int64_t i = 0; i < values.numel(); ++i) mask.data_as<uint8_t>()[i] = uint8_t(values.f32()[i]);
  return mask;
}

class SegmentationLossParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(SegmentationLossParity, LossAndGradientMatchTorchAndSmp) {
  SKIP_WITHOUT_FIXTURES();
  const auto& [name, loss_name] = GetParam();
  const nlohmann::json cases = load_json(fixture_path(case_file("cases.json")));
  const nlohmann::json& c = cases.at(name);
  const Tensor logits = load_fixture_npy(case_file(name + ".logits.npy"));
  const Tensor mask = mask_tensor(load_fixture_npy(case_file(name + ".mask.npy")));
  const std::string file_name = loss_name == "ce+dice" ? "ce_dice" : loss_name;
  const SegmentationLoss ours =
      segmentation_loss(parse_segmentation_loss(loss_name), logits, mask, c.at("ignore_index").get<int>());
  const double expected = c.at("loss").at(file_name).get<double>();
  std::printf("[ parity   ] %s %s: loss %.10g, torch %.10g\n", name.c_str(), loss_name.c_str(), ours.loss,
              expected);
  EXPECT_LE(std::fabs(ours.loss - expected), kLossTolerance * std::fabs(expected));
  const Tensor grad = load_fixture_npy(case_file(name + "." + file_name + ".grad.npy"));
  ASSERT_EQ(shape_str(ours.grad.shape()), shape_str(grad.shape()));
  const Difference d = difference(ours.grad, grad);
  report_difference(name + " " + loss_name + " dL/dlogits", d);
  EXPECT_LE(d.ratio(), kGradTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SegmentationLossParity,
    ::testing::Combine(::testing::Values("multiclass", "multiclass_all_valid", "ignore_zero", "binary"),
                       ::testing::Values("ce", "dice", "ce+dice")),
    [](const auto& info) { return param_name(std::get<0>(info.param) + "_" + std::get<1>(info.param)); });

}  // namespace
}  // namespace resnet::parity
