// load_state_dict: copies a file's tensors into a model by name, converting bf16 -> f32, and reports (or,
// strict, refuses with one line naming the file) every missing, unexpected and mismatched key.
#include <gtest/gtest.h>

#include <cstring>

#include "resnet/error.h"
#include "resnet/load_state_dict.h"

namespace resnet {
namespace {

// weight [out, in], bias [out], and an i64 counter buffer like BatchNorm's.
class TinyLayer : public Module {
 public:
  TinyLayer(std::string path, int64_t in, int64_t out) : Module(std::move(path), "TinyLayer") {
    add_parameter("weight", Tensor({out, in}), false);
    add_parameter("bias", Tensor({out}), true);
    add_buffer("num_batches_tracked", Tensor({}, DType::i64));
  }
  Tensor forward(const Tensor& x) override { return x; }
};

class TinyNet : public Module {
 public:
  TinyNet() : Module("", "TinyNet") {
    add_child<TinyLayer>("layer1", 2, 3);
    add_child<TinyLayer>("fc", 3, 1);
  }
  Tensor forward(const Tensor& x) override { return x; }
};

Tensor counter(int64_t value) {
  Tensor t({}, DType::i64);
  *t.data_as<int64_t>() = value;
  return t;
}

// What a file for TinyNet holds: every float is its position in the file + 1, counters are 5.
StateDict matching_file() {
  return {{"layer1.weight", Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6})},
          {"layer1.bias", Tensor::from_vector({3}, {7, 8, 9})},
          {"layer1.num_batches_tracked", counter(5)},
          {"fc.weight", Tensor::from_vector({1, 3}, {10, 11, 12})},
          {"fc.bias", Tensor::from_vector({1}, {13})},
          {"fc.num_batches_tracked", counter(5)}};
}

const Tensor& model_tensor(TinyNet& model, const std::string& name) {
  static StateDict sd;
  sd = model.state_dict();
  for (const auto& nt : sd) {
    if (nt.name == name) return nt.tensor;
  }
  throw std::runtime_error("no " + name);
}

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

TEST(LoadStateDict, CopiesEveryTensorIntoTheModel) {
  TinyNet model;
  const LoadReport report = load_state_dict(model, matching_file(), true, "tiny.pth");
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.describe(), "");
  EXPECT_EQ(values_of(model_tensor(model, "layer1.weight")), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(values_of(model_tensor(model, "fc.bias")), std::vector<float>{13});
  EXPECT_EQ(*model_tensor(model, "fc.num_batches_tracked").data_as<int64_t>(), 5);
  // The parameters seen by optimizers are the same storage.
  EXPECT_EQ(model.parameters()[0]->value.f32()[5], 6.f);
}

TEST(LoadStateDict, TheFileKeepsItsOwnStorage) {
  TinyNet model;
  StateDict file = matching_file();
  load_state_dict(model, file, true);
  file[0].tensor.f32()[0] = -1.f;
  EXPECT_EQ(model_tensor(model, "layer1.weight").f32()[0], 1.f);
}

TEST(LoadStateDict, ConvertsBf16WeightsToF32) {
  TinyNet model;
  StateDict file = matching_file();
  Tensor bf16({1, 3}, DType::bf16);
  for (int i = 0; i < 3; ++i) bf16.data_as<uint16_t>()[i] = f32_to_bf16(0.5f * static_cast<float>(i + 1));
  file[3].tensor = bf16;
  EXPECT_TRUE(load_state_dict(model, file, true).clean());
  EXPECT_EQ(values_of(model_tensor(model, "fc.weight")), (std::vector<float>{0.5f, 1.f, 1.5f}));
}

TEST(LoadStateDict, StrictMismatchListsEveryProblemOnOneLineAndLoadsNothing) {
  TinyNet model;
  StateDict file = matching_file();
  file.erase(file.begin() + 4);                                               // fc.bias
  file[0].tensor = Tensor::from_vector({3, 5}, std::vector<float>(15, 1.f));  // layer1.weight
  file.push_back({"foo", Tensor({1})});
  file.push_back({"bar.weight", Tensor({2})});
  try {
    load_state_dict(model, file, true, "model.pth");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "model.pth: state dict does not match the model: missing: fc.bias; unexpected: foo, bar.weight; "
        "layer1.weight: expected [3,2], file has [3,5]");
  }
  EXPECT_EQ(values_of(model_tensor(model, "layer1.bias")), (std::vector<float>{0, 0, 0}));
}

TEST(LoadStateDict, NonStrictLoadsWhatMatchesAndReportsTheRest) {
  TinyNet model;
  StateDict file = matching_file();
  file.erase(file.begin() + 4);  // fc.bias
  file[0].tensor = Tensor::from_vector({3, 5}, std::vector<float>(15, 1.f));
  file.push_back({"foo", Tensor({1})});
  const LoadReport report = load_state_dict(model, file, false, "model.pth");
  EXPECT_EQ(report.missing, std::vector<std::string>{"fc.bias"});
  EXPECT_EQ(report.unexpected, std::vector<std::string>{"foo"});
  EXPECT_EQ(report.mismatched, std::vector<std::string>{"layer1.weight: expected [3,2], file has [3,5]"});
  EXPECT_EQ(report.describe(),
            "missing: fc.bias\nunexpected: foo\nlayer1.weight: expected [3,2], file has [3,5]");
  EXPECT_EQ(values_of(model_tensor(model, "layer1.bias")), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(values_of(model_tensor(model, "layer1.weight")), std::vector<float>(6, 0.f));
}

TEST(LoadStateDict, AFileWithoutBatchNormCountersIsComplete) {
  // Like PyTorch for files older than num_batches_tracked: the model keeps its own counter.
  TinyNet model;
  StateDict file = matching_file();
  std::erase_if(file, [](const NamedTensor& nt) { return nt.name.ends_with("num_batches_tracked"); });
  EXPECT_TRUE(load_state_dict(model, file, true, "old.pth").clean());
  EXPECT_EQ(values_of(model_tensor(model, "fc.weight")), (std::vector<float>{10, 11, 12}));
}

TEST(LoadStateDict, RefusesLossyDtypeChanges) {
  TinyNet model;
  StateDict file = matching_file();
  file[2].tensor = Tensor::from_vector({}, {5.f});  // an f32 counter
  try {
    load_state_dict(model, file, true, "model.safetensors");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "model.safetensors: state dict does not match the model: "
              "layer1.num_batches_tracked: expected dtype i64, file has f32");
  }
}

TEST(LoadStateDict, WithoutASourceTheMessageStartsWithTheProblem) {
  TinyNet model;
  StateDict file = matching_file();
  file.erase(file.begin() + 4);  // fc.bias
  try {
    load_state_dict(model, file, true);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "state dict does not match the model: missing: fc.bias");
  }
}

}  // namespace
}  // namespace resnet
