// The U-Net (resnet/unet.h) without an oracle: smp's names and structure, the input-size and encoder rules,
// shapes, where gradients go (and do not), bf16, freezing, smp's initialisation, and the CLI around it. Its
// numbers against smp are tests/parity/test_unet.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dnnl/ops.h"
#include "input_error.h"
#include "resnet/unet.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::expect_input_error;
using test::random_tensor;

Parameter* find_parameter(Module& model, const std::string& name) {
  for (Parameter* p : model.parameters()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

bool has_gradient(const Parameter& p) {
  if (!p.grad.defined()) return false;
  for (int64_t i = 0; i < p.grad.numel(); ++i) {
    if (p.grad.f32()[i] != 0.0f) return true;
  }
  return false;
}

// unet-resnet18 of depth 3 (decoder 256,128,64) on 2 classes: small enough for every test here.
UNet small_unet(uint64_t seed = 0) {
  return UNet(unet_zoo_config("unet-resnet18", 2, 3, 3), seed);
}

TEST(Unet, StateDictKeysAreSmps) {
  UNet model(unet_zoo_config("unet-resnet34", 11, 4, 5), 0, Init::none);
  const StateDict sd = model.state_dict();
  EXPECT_EQ(sd.front().name, "encoder.conv1.weight");
  EXPECT_EQ(sd.front().tensor.shape(), (Shape{64, 4, 7, 7}));
  EXPECT_NE(find_parameter(model, "encoder.layer4.2.bn2.weight"), nullptr);
  EXPECT_EQ(find_parameter(model, "encoder.fc.weight"), nullptr);
  EXPECT_EQ(find_parameter(model, "decoder.blocks.0.conv1.0.weight")->value.shape(),
            (Shape{256, 512 + 256, 3, 3}));
  EXPECT_NE(find_parameter(model, "decoder.blocks.0.conv1.1.weight"), nullptr);
  EXPECT_EQ(find_parameter(model, "decoder.blocks.4.conv1.0.weight")->value.shape(), (Shape{16, 32, 3, 3}));
  EXPECT_EQ(find_parameter(model, "decoder.blocks.4.conv2.0.weight")->value.shape(), (Shape{16, 16, 3, 3}));
  EXPECT_EQ(sd[sd.size() - 2].name, "segmentation_head.0.weight");
  EXPECT_EQ(sd.back().name, "segmentation_head.0.bias");
  EXPECT_EQ(sd.back().tensor.shape(), (Shape{11}));
  EXPECT_EQ(model.parameter_count(), 24'440'955);  // smp: sum(p.numel() for p in model.parameters())
}

TEST(Unet, PrintsAsSmp) {
  UNet model(unet_zoo_config("unet-resnet18", 1, 3, 3), 0, Init::none);
  const std::string text = module_repr(model);
  EXPECT_EQ(text.rfind("Unet(\n  (encoder): ResNetEncoder(\n", 0), 0u) << text.substr(0, 80);
  for (const char* part :
       {"(decoder): UnetDecoder(\n    (center): Identity()\n    (blocks): ModuleList(\n      (0): "
        "UnetDecoderBlock(",
        "(conv1): Conv2dReLU(\n          (0): Conv2d(192, 256, kernel_size=(3, 3), stride=(1, 1), "
        "padding=(1, 1), "
        "bias=False)",
        "(attention1): Attention(\n          (attention): Identity()\n        )",
        "(segmentation_head): SegmentationHead(\n    (0): Conv2d(64, 1, kernel_size=(3, 3), stride=(1, 1), "
        "padding=(1, 1))\n    (1): Identity()\n    (2): Activation(\n      (activation): Identity()\n    )\n "
        " )\n)"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part;
  }
}

TEST(Unet, GivesLogitsAtTheInputSizeAndGradientsToWhatRan) {
  UNet model = small_unet();
  model.set_training(true);
  const Tensor logits = model.forward(random_tensor({2, 24, 16, 3}, 1));  // multiples of 2^3
  ASSERT_EQ(logits.shape(), (Shape{2, 24, 16, 2}));
  EXPECT_EQ(logits.dtype(), DType::f32);
  const Tensor dx = model.backward(random_tensor({2, 24, 16, 2}, 2));
  ASSERT_TRUE(dx.defined());
  EXPECT_EQ(dx.shape(), (Shape{2, 24, 16, 3}));
  for (const char* ran :
       {"encoder.conv1.weight", "encoder.layer2.1.bn2.bias", "decoder.blocks.0.conv1.0.weight",
        "decoder.blocks.2.conv2.1.weight", "segmentation_head.0.bias"}) {
    EXPECT_TRUE(has_gradient(*find_parameter(model, ran))) << ran;
  }
  // Depth 3 stops at layer2, as smp's encoder: layer3 and layer4 are in the state_dict but never run.
  EXPECT_FALSE(has_gradient(*find_parameter(model, "encoder.layer3.0.conv1.weight")));
  EXPECT_FALSE(has_gradient(*find_parameter(model, "encoder.layer4.1.bn2.weight")));
}

TEST(Unet, RefusesSizesThatAreNotMultiplesOfTwoToTheDepth) {
  UNet model = small_unet();
  expect_input_error(
      [&] {
        model.forward(Tensor({1, 20, 16, 3}));
      },
      {"unet-resnet18", "multiples of 8", "20x16"});
  expect_input_error([&] { model.forward(Tensor({1, 16, 16, 1})); }, {"expected input [N,H,W,3]"});
}

TEST(Unet, RefusesEncodersWhoseStagesDoNotHalveAndBadDecoderSettings) {
  expect_input_error([] { unet_zoo_config("unet-resnet20"); }, {"unet-resnet20", "CIFAR", "do not halve"});
  expect_input_error([] { unet_zoo_config("unet-resnet19"); }, {"unknown U-Net 'unet-resnet19'"});
  UNetConfig cifar_stem = unet_zoo_config("unet-resnet18");
  cifar_stem.encoder.stem = Stem::cifar;
  expect_input_error([&] { UNet model(cifar_stem); }, {"halve", "CIFAR stem"});
  expect_input_error([] { UNet model(unet_zoo_config("unet-resnet18", 1, 3, 6)); }, {"--encoder-depth", "6"});
  expect_input_error(
      [] {
        UNet model(unet_zoo_config("unet-resnet18", 1, 3, 4, {64, 32}));
      },
      {"--decoder-channels has 2 values", "--encoder-depth 4"});
}

TEST(Unet, Bf16ComputeStaysNearF32AndKeepsLogitsF32) {
  UNet model = small_unet(3);
  model.set_training(false);
  const Tensor x = random_tensor({1, 16, 16, 3}, 4);
  const Tensor f32 = model.forward(x);
  model.set_compute_dtype(DType::bf16);
  const Tensor bf16 = model.forward(x);
  ASSERT_EQ(bf16.dtype(), DType::f32);
  double max_abs = 0, max_ref = 0;
  for (int64_t i = 0; i < f32.numel(); ++i) {
    max_abs = std::max(max_abs, std::fabs(double(bf16.f32()[i]) - f32.f32()[i]));
    max_ref = std::max(max_ref, std::fabs(double(f32.f32()[i])));
  }
  EXPECT_LE(max_abs, 5e-2 * max_ref);
  model.set_training(true);
  model.forward(x);
  EXPECT_EQ(model.backward(Tensor::full(f32.shape(), 0.1f)).dtype(), DType::f32);
}

TEST(Unet, FreezingTheEncoderStopsItsGradientsOnly) {
  UNet model = small_unet();
  model.freeze("backbone");
  model.set_training(true);
  model.forward(random_tensor({1, 16, 16, 3}, 5));
  EXPECT_FALSE(model.backward(random_tensor({1, 16, 16, 2}, 6)).defined());
  EXPECT_FALSE(has_gradient(*find_parameter(model, "encoder.conv1.weight")));
  EXPECT_TRUE(has_gradient(*find_parameter(model, "decoder.blocks.0.conv1.0.weight")));
  expect_input_error([&] { model.freeze("layer9"); }, {"--freeze layer9"});
}

TEST(Unet, InitialisesTheDecoderAndHeadAsSmp) {
  UNet model = small_unet(7);
  const Tensor& w = find_parameter(model, "decoder.blocks.1.conv1.0.weight")->value;  // [128, 256+64, 3, 3]
  const double kaiming = std::sqrt(6.0 / double(w.dim(1) * 9));
  double max_abs = 0;
  for (int64_t i = 0; i < w.numel(); ++i) max_abs = std::max(max_abs, std::fabs(double(w.f32()[i])));
  EXPECT_LE(max_abs, kaiming);
  EXPECT_GE(max_abs, 0.9 * kaiming);
  const Tensor& head = find_parameter(model, "segmentation_head.0.weight")->value;  // [2, 64, 3, 3]
  const double xavier = std::sqrt(6.0 / double((64 + 2) * 9));
  double head_max = 0;
  for (int64_t i = 0; i < head.numel(); ++i) head_max = std::max(head_max, std::fabs(double(head.f32()[i])));
  EXPECT_LE(head_max, xavier);
  EXPECT_GE(head_max, 0.8 * xavier);
  EXPECT_EQ(find_parameter(model, "segmentation_head.0.bias")->value.f32()[0], 0.0f);
  EXPECT_EQ(find_parameter(model, "decoder.blocks.1.conv1.1.weight")->value.f32()[0], 1.0f);
}

TEST(Unet, ShapeOnlyWalksTheModel) {
  UNet model(unet_zoo_config("unet-resnet50"), 0, Init::none);
  model.set_training(false);
  ops::ShapeOnly shapes_only;
  EXPECT_EQ(model.forward(Tensor({1, 224, 224, 3})).shape(), (Shape{1, 224, 224, 1}));
}

TEST(Unet, ZooNamesEveryImageNetEncoder) {
  const std::vector<std::string>& names = unet_zoo_names();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names.front(), "unet-resnet18");
  EXPECT_EQ(names.back(), "unet-wide_resnet101_2");
  EXPECT_TRUE(is_unet_name("unet-resnet34"));
  EXPECT_FALSE(is_unet_name("resnet34"));
  EXPECT_EQ(default_decoder_channels(4), (std::vector<int>{256, 128, 64, 32}));
}

// `resnet ARGS` -> {exit code, stdout + stderr}.
std::pair<int, std::string> run_resnet(const std::string& args) {
  const char* bin = std::getenv("RESNET_BIN");
  EXPECT_NE(bin, nullptr) << "RESNET_BIN is not set (ctest sets it)";
  const char* tmp = std::getenv("RESNET_TEST_TMP");
  const auto dir = std::filesystem::path(tmp ? tmp : "/tmp") / "unet_cli";
  std::filesystem::create_directories(dir);
  const auto log = dir / ("out." + std::to_string(getpid()) + ".txt");
  const int status = std::system((std::string(bin) + " " + args + " >" + log.string() + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(log);
  return {WEXITSTATUS(status), text.str()};
}

TEST(UnetCli, ListPrintAndSummaryTakeUnets) {
  auto [list_code, list] = run_resnet("list");
  EXPECT_EQ(list_code, 0);
  EXPECT_NE(list.find("unet-resnet34            24,436,369"), std::string::npos) << list;
  auto [print_code, print] = run_resnet("print --arch unet-resnet18 --encoder-depth 3");
  EXPECT_EQ(print_code, 0);
  EXPECT_EQ(print.rfind("Unet(", 0), 0u);
  auto [summary_code, summary] = run_resnet(
      "summary --arch unet-resnet18 --input 1x64x64 --num-classes 11 --decoder-channels 64,32,16,8,4");
  EXPECT_EQ(summary_code, 0) << summary;
  EXPECT_NE(summary.find("segmentation_head.0"), std::string::npos);
  EXPECT_NE(summary.find("[1,11,64,64]"), std::string::npos);
}

TEST(UnetCli, SaysWhatIsWrongWithExit2) {
  auto [size_code, size] = run_resnet("summary --arch unet-resnet18 --input 3x60x64");
  EXPECT_EQ(size_code, 2);
  EXPECT_NE(size.find("multiples of 32"), std::string::npos) << size;
  auto [channels_code, channels] = run_resnet("print --arch unet-resnet18 --decoder-channels 64,x");
  EXPECT_EQ(channels_code, 2);
  EXPECT_NE(channels.find("--decoder-channels '64,x'"), std::string::npos) << channels;
  auto [resnet_code, resnet] = run_resnet("print --arch resnet18 --encoder-depth 4");
  EXPECT_EQ(resnet_code, 2);
  EXPECT_NE(resnet.find("U-Nets (unet-...) only"), std::string::npos) << resnet;
}

}  // namespace
}  // namespace resnet
