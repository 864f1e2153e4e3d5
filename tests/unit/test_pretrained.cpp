// Transfer learning as timm and torchvision users expect it: load_pretrained keeps a fresh classifier for
// another class count and adapts a 3-channel first convolution (timm's adapt_input_conv), refuses any other
// mismatch unless told not to; ResNet::freeze leaves frozen parameters and batch-norm statistics bitwise
// unchanged and stops backward; per-parameter learning rates; few-shot class selections.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "input_error.h"
#include "resnet/data.h"
#include "resnet/model.h"
#include "resnet/optim.h"
#include "resnet/pretrained.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"
#include "unit/state_dict_util.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using test::expect_input_error;
using test::find_tensor;
using test::random_tensor;

fs::path scratch_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "resnet_test_pretrained";
  fs::create_directories(dir);
  return dir / name;
}

// A resnet18 state_dict with torchvision's init (seed 1) and `classes` outputs, saved as safetensors.
std::string saved_resnet18(const std::string& name, int classes, const std::string& stem = "imagenet") {
  ResNetConfig config = zoo_config("resnet18", classes, 3);
  apply_stem(config, stem);
  ResNet source(config, 1);
  const std::string path = scratch_file(name).string();
  save_safetensors(source.state_dict(), path);
  return path;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(LoadPretrained, KeepsAFreshClassifierAndSumsRgbIntoOneChannel) {
  const std::string file = saved_resnet18("r18_1000.safetensors", 1000);
  const StateDict source = load_weights(file);
  ResNet model(zoo_config("resnet18", 10, 1), 2);
  const Tensor fresh_fc = find_tensor(model.state_dict(), "fc.weight")->tensor.clone();

  const PretrainedReport report = load_pretrained(model, file);

  const StateDict loaded = model.state_dict();
  EXPECT_EQ(report.describe(),
            "init: " + std::to_string(loaded.size() - 2) +
                " tensors loaded from r18_1000.safetensors; fc.weight, fc.bias re-initialised "
                "(1000 -> 10 classes); conv1.weight adapted (3 -> 1 channels)");
  EXPECT_TRUE(same_bytes(find_tensor(loaded, "fc.weight")->tensor, fresh_fc));
  EXPECT_TRUE(same_bytes(find_tensor(loaded, "layer3.1.conv2.weight")->tensor,
                         find_tensor(source, "layer3.1.conv2.weight")->tensor));
  EXPECT_TRUE(same_bytes(find_tensor(loaded, "layer4.1.bn2.running_var")->tensor,
                         find_tensor(source, "layer4.1.bn2.running_var")->tensor));
  const Tensor& rgb = find_tensor(source, "conv1.weight")->tensor;   // [64,3,7,7]
  const Tensor& gray = find_tensor(loaded, "conv1.weight")->tensor;  // [64,1,7,7]
  ASSERT_EQ(gray.shape(), (Shape{64, 1, 7, 7}));
  for (int64_t o = 0; o < 64; ++o) {
    for (int64_t k = 0; k < 49; ++k) {
      const float* in = rgb.f32() + o * 3 * 49 + k;
      EXPECT_FLOAT_EQ(gray.f32()[o * 49 + k], in[0] + in[49] + in[98]);
    }
  }
}

TEST(LoadPretrained, RepeatsRgbCyclicallyScaledByThreeOverC) {
  const std::string file = saved_resnet18("r18_10.safetensors", 10);
  const Tensor rgb = find_tensor(load_weights(file), "conv1.weight")->tensor;
  ResNet model(zoo_config("resnet18", 10, 4), 2);
  const PretrainedReport report = load_pretrained(model, file);
  EXPECT_TRUE(report.reinitialised.empty());
  EXPECT_EQ(report.adapted, std::vector<std::string>{"conv1.weight"});
  const StateDict state = model.state_dict();
  const Tensor& four = find_tensor(state, "conv1.weight")->tensor;  // [64,4,7,7]
  for (int64_t o = 0; o < 64; ++o) {
    for (int64_t c = 0; c < 4; ++c) {
      for (int64_t k = 0; k < 49; ++k) {
        EXPECT_FLOAT_EQ(four.f32()[(o * 4 + c) * 49 + k], rgb.f32()[(o * 3 + c % 3) * 49 + k] * 0.75f);
      }
    }
  }
}

TEST(LoadPretrained, AnyOtherMismatchNamesTheTensorAndBothShapesUnlessNonStrict) {
  const std::string file = saved_resnet18("r18_cifar.safetensors", 10, "cifar");  // conv1 [64,3,3,3]
  ResNet model(zoo_config("resnet18", 10, 3), 2);                                 // conv1 [64,3,7,7]
  const Tensor before = find_tensor(model.state_dict(), "layer1.0.conv1.weight")->tensor.clone();
  expect_input_error([&] { load_pretrained(model, file); },
                     {"r18_cifar.safetensors", "conv1.weight: expected [64,3,7,7], file has [64,3,3,3]"});
  EXPECT_TRUE(same_bytes(find_tensor(model.state_dict(), "layer1.0.conv1.weight")->tensor, before))
      << "a refused load changes nothing";

  const PretrainedReport report = load_pretrained(model, file, {.strict = false});
  EXPECT_EQ(report.skipped,
            std::vector<std::string>{"conv1.weight: expected [64,3,7,7], file has [64,3,3,3]"});
  EXPECT_EQ(report.loaded, int64_t(model.state_dict().size()) - 1);
  EXPECT_NE(report.describe().find("; skipped: conv1.weight"), std::string::npos) << report.describe();
  EXPECT_TRUE(same_bytes(find_tensor(model.state_dict(), "layer1.0.conv1.weight")->tensor,
                         find_tensor(load_weights(file), "layer1.0.conv1.weight")->tensor));
}

// One SGD step (lr 0.1, momentum, weight decay) of a train-mode resnet20 on a random batch.
void train_one_step(ResNet& model) {
  model.set_training(true);
  model.zero_grad();
  const Tensor logits = model.forward(random_tensor({4, 16, 16, 1}, 5));
  model.backward(random_tensor(logits.shape(), 6));
  Sgd sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
  sgd.step();
}

TEST(Freeze, FrozenPartsKeepTheirBitsAndBatchNormStatisticsTheRestLearns) {
  for (const std::string part : {"stem", "layer2", "backbone"}) {
    ResNet model(zoo_config("resnet20", 10, 1), 3);
    model.freeze(part);
    const StateDict before = model.state_dict();
    std::vector<Tensor> copies;
    for (const NamedTensor& t : before) copies.push_back(t.tensor.clone());
    train_one_step(model);
    const std::string first_trainable = part == "stem" ? "layer1." : part == "layer2" ? "layer3." : "fc.";
    bool trainable = false;
    for (size_t i = 0; i < before.size(); ++i) {
      const std::string& name = before[i].name;
      trainable = trainable || name.starts_with(first_trainable);
      if (name.ends_with("num_batches_tracked")) continue;
      EXPECT_EQ(same_bytes(before[i].tensor, copies[i]), !trainable) << part << ": " << name;
    }
  }
}

TEST(Freeze, BackwardStopsAtTheFrozenPartAndUnknownPartsAreRefused) {
  for (const std::string part : {"", "layer1"}) {
    ResNet model(zoo_config("resnet20", 10, 1), 3);
    model.freeze(part);
    model.set_training(true);
    const Tensor logits = model.forward(random_tensor({2, 16, 16, 1}, 5));
    const Tensor dx = model.backward(random_tensor(logits.shape(), 6));
    EXPECT_EQ(dx.defined(), part.empty()) << "the input gradient exists only when nothing is frozen";
    for (const Parameter* p : model.parameters()) {  // with layer1 frozen, gradients start at layer2
      const bool frozen = !part.empty() && (p->name.starts_with("conv1.") || p->name.starts_with("bn1.") ||
                                            p->name.starts_with("layer1."));
      EXPECT_EQ(p->grad.defined(), !frozen) << part << ": " << p->name;
    }
    expect_input_error([&] { model.freeze("layer4"); },
                       "--freeze layer4: expected stem, layer1..layer3 or backbone");
    expect_input_error([&] { model.freeze("head"); }, "--freeze head");
  }
}

TEST(Optimizer, AParametersLrFactorScalesItsUpdate) {
  Parameter a{.name = "a", .value = Tensor::full({3}, 1.0f), .grad = Tensor::full({3}, 2.0f)};
  Parameter b{.name = "b", .value = Tensor::full({3}, 1.0f), .grad = Tensor::full({3}, 2.0f)};
  Sgd sgd({&a, &b}, {.lr = 0.1});
  sgd.set_lr_factor(1, 0.25);
  sgd.step();
  EXPECT_FLOAT_EQ(a.value.f32()[0], 1.0f - 0.1f * 2.0f);
  EXPECT_FLOAT_EQ(b.value.f32()[0], 1.0f - 0.025f * 2.0f);
}

TEST(SelectClasses, KeepsTheClassesInTheGivenOrderAndTheFirstNOfEach) {
  ImageArray images;
  images.count = 8;
  images.height = images.width = 1;
  images.channels = 1;
  images.pixels = {0, 1, 2, 3, 4, 5, 6, 7};
  images.labels = {0, 1, 2, 0, 1, 2, 2, 1};
  DatasetInfo info{.name = "toy", .class_names = {"a", "b", "c"}, .channels = 1, .image_size = 1};
  std::shared_ptr<const Dataset> all = make_memory_dataset(images, info);

  std::unique_ptr<Dataset> picked = select_classes(all, {2, 0}, 2);
  EXPECT_EQ(picked->class_names(), (std::vector<std::string>{"c", "a"}));
  ASSERT_EQ(picked->size(), 4);  // samples 0 (a), 2 (c), 3 (a), 5 (c): the first two of each, in file order
  const std::vector<uint8_t> pixels = {0, 2, 3, 5};
  const std::vector<int64_t> labels = {1, 0, 1, 0};
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(picked->get(i).image.pixels[0], pixels[size_t(i)]);
    EXPECT_EQ(picked->get(i).label, labels[size_t(i)]);
    EXPECT_EQ(picked->label(i), labels[size_t(i)]);
  }
  EXPECT_EQ(select_classes(all, {1})->size(), 3);
  expect_input_error([&] { select_classes(all, {3}); }, "--classes 3: toy has 3 classes (0..2)");
  expect_input_error([&] { select_classes(all, {1, 1}); }, "class 1 is named twice");
}

}  // namespace
}  // namespace resnet
