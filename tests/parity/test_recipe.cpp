// torchvision's training recipe, piece by piece, against fixtures of tests/oracle/make_recipe_fixtures.py:
// each TrivialAugmentWide / RandAugment operation (torchvision 0.14's _apply_op on PIL images) on a 1- and a
// 3-channel image at fixed magnitudes, the policies' magnitude bins, the EMA of weights and BN buffers
// (AveragedModel with torchvision's ExponentialMovingAverage function), and mixup / cutmix batches with
// their soft-target cross-entropy under label smoothing.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "data/auto_augment.h"
#include "nn/batchnorm2d.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"
#include "parity/fixtures.h"
#include "resnet/loss.h"
#include "train/ema.h"
#include "train/mixup.h"

namespace resnet::parity {
namespace {

std::string recipe_file(const std::string& file) {
  return "recipe/" + file;
}

// Every element of `ours` within `tolerance` of the reference's.
void expect_close(const Tensor& ours, const Tensor& reference, double tolerance, const std::string& what) {
  ASSERT_EQ(ours.numel(), reference.numel()) << what;
  double worst = 0.0;
  for (int64_t i = 0; i < ours.numel(); ++i)
    worst = std::max(worst, std::abs(double(ours.f32()[i]) - double(reference.f32()[i])));
  EXPECT_LE(worst, tolerance) << what;
}

nlohmann::json manifest() {
  return load_json(fixture_path(recipe_file("manifest.json")));
}

// A fixture image (float32 [H, W, C] holding u8 values) as an Image.
Image fixture_image(const std::string& file) {
  const Tensor t = load_fixture_npy(recipe_file(file));
  Image image(int(t.dim(0)), int(t.dim(1)), int(t.dim(2)));
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t(t.f32()[i]);
  return image;
}

const std::map<std::string, AugmentOp>& op_names() {
  static const std::map<std::string, AugmentOp> names = {{"Identity", AugmentOp::identity},
                                                         {"ShearX", AugmentOp::shear_x},
                                                         {"ShearY", AugmentOp::shear_y},
                                                         {"TranslateX", AugmentOp::translate_x},
                                                         {"TranslateY", AugmentOp::translate_y},
                                                         {"Rotate", AugmentOp::rotate},
                                                         {"Brightness", AugmentOp::brightness},
                                                         {"Color", AugmentOp::color},
                                                         {"Contrast", AugmentOp::contrast},
                                                         {"Sharpness", AugmentOp::sharpness},
                                                         {"Posterize", AugmentOp::posterize},
                                                         {"Solarize", AugmentOp::solarize},
                                                         {"AutoContrast", AugmentOp::autocontrast},
                                                         {"Equalize", AugmentOp::equalize}};
  return names;
}

TEST(ParityRecipe, EveryAugmentOperationMatchesTorchvisionWithinOneLevel) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json m = manifest();  // kept: a range-for over manifest().at(...) would dangle
  for (const auto& c : m.at("augment")) {
    const std::string op = c.at("op").get<std::string>();
    const double magnitude = c.at("magnitude").get<double>();
    const Image out =
        apply_augment_op(fixture_image(c.at("image").get<std::string>()), op_names().at(op), magnitude);
    const Image expected = fixture_image(c.at("expected").get<std::string>());
    ASSERT_EQ(out.pixels.size(), expected.pixels.size()) << op;
    int worst = 0;
    int64_t off = 0;
    for (size_t i = 0; i < out.pixels.size(); ++i) {
      const int d = std::abs(int(out.pixels[i]) - int(expected.pixels[i]));
      worst = std::max(worst, d);
      off += d > 0;
    }
    EXPECT_LE(worst, 1) << c.at("image") << " " << op << "(" << magnitude << "): " << off << " values differ";
  }
}

TEST(ParityRecipe, MagnitudeBinsAreTorchvisions) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json m = manifest();
  for (const auto& b : m.at("bins")) {
    const std::string policy = b.at("policy").get<std::string>();
    const AugmentOp op = op_names().at(b.at("op").get<std::string>());
    const std::vector<double> values = b.at("values").get<std::vector<double>>();
    for (int k = 0; k < int(values.size()); ++k) {
      EXPECT_EQ(augment_bin_magnitude(policy, op, k, b.at("height").get<int>(), b.at("width").get<int>()),
                values[size_t(k)])
          << policy << " " << b.at("op") << " bin " << k;
    }
  }
}

TEST(ParityRecipe, EmaOfParametersAndBuffersMatchesAveragedModel) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json ema_fixture = manifest().at("ema");
  Sequential model("");
  model.append<Conv2d>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .window = Window::square(3)});
  model.append<BatchNorm2d>(2);
  WeightAverage ema(model, ema_fixture.at("decay").get<double>());
  for (const auto& step : ema_fixture.at("steps")) {
    for (NamedTensor& t : model.state_dict()) {
      const Tensor saved = load_fixture_npy(recipe_file(step.at("model").at(t.name).get<std::string>()));
      if (t.tensor.dtype() == DType::f32) {
        t.tensor.copy_from(saved);
      } else {  // num_batches_tracked
        *static_cast<int64_t*>(t.tensor.data()) = int64_t(saved.f32()[0]);
      }
    }
    ema.update(model);
    for (const NamedTensor& t : ema.weights()) {
      const Tensor expected = load_fixture_npy(recipe_file(step.at("ema").at(t.name).get<std::string>()));
      ASSERT_EQ(expected.numel(), t.tensor.numel()) << t.name;
      for (int64_t i = 0; i < t.tensor.numel(); ++i) {
        const double got = t.tensor.dtype() == DType::f32
                               ? double(t.tensor.f32()[i])
                               : double(static_cast<const int64_t*>(t.tensor.data())[i]);
        EXPECT_NEAR(got, expected.f32()[i], 1e-6) << t.name << "[" << i << "] after " << ema.n_averaged();
      }
    }
  }
}

TEST(ParityRecipe, MixupAndCutmixBatchesAndLossMatchTorch) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json mix = manifest().at("mix");
  const Tensor images = load_fixture_npy(recipe_file("mix_images.npy"));
  const Tensor label_values = load_fixture_npy(recipe_file("mix_labels.npy"));
  const Tensor logits = load_fixture_npy(recipe_file("mix_logits.npy"));
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < label_values.numel(); ++i) labels.push_back(int64_t(label_values.f32()[i]));
  const int64_t classes = mix.at("classes").get<int64_t>();
  for (const auto& c : mix.at("cases")) {
    const bool cutmix = c.at("kind") == "cutmix";
    const MixChoice choice =
        cutmix ? cutmix_choice(c.at("lambda").get<double>(), c.at("r_x").get<int>(), c.at("r_y").get<int>(),
                               int(images.dim(1)), int(images.dim(2)))
               : MixChoice{.cutmix = false, .lambda = c.at("lambda").get<double>()};
    if (cutmix) {
      EXPECT_EQ(std::vector<int>({choice.x1, choice.y1, choice.x2, choice.y2}),
                c.at("box").get<std::vector<int>>());
    }
    EXPECT_DOUBLE_EQ(choice.lambda, c.at("lambda_after").get<double>());
    Tensor mixed = images.clone();
    const Tensor targets = apply_mix(choice, mixed, labels, classes);
    expect_close(mixed, load_fixture_npy(recipe_file(c.at("images").get<std::string>())), 1e-6, "images");
    expect_close(targets, load_fixture_npy(recipe_file(c.at("targets").get<std::string>())), 1e-7, "targets");
    const CrossEntropy ce = soft_target_cross_entropy(logits, targets, c.at("label_smoothing").get<double>());
    EXPECT_NEAR(ce.loss, c.at("loss").get<double>(), 1e-5) << c.at("kind");
    expect_close(ce.grad, load_fixture_npy(recipe_file(c.at("grad").get<std::string>())), 1e-6, "grad");
  }
}

}  // namespace
}  // namespace resnet::parity
