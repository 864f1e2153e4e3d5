// Multi-scale features against torchvision's IntermediateLayerGetter (tests/oracle/make_feature_fixtures.py):
// every stage of the ten torchvision models, dilated resnet50 and the CIFAR stems, through the library
// (ResNet::forward_features, the f32 and bf16 plans) and through `resnet features` (plan and --no-fuse); the
// feature_info against torch's shapes; and in train mode, the input and parameter gradients of
// loss = sum_i <feature_i, r_i> (ResNet::backward_features) against torch autograd.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/plan.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

namespace fs = std::filesystem;

// bf16 plan: bf16 weights and activations (8-bit mantissa); the error grows with depth. Measured on these
// fixtures: up to 3.2e-2 of max |torch| for the 18-50-layer models (resnet50's layer4), up to 9.5e-2 for the
// 101/152-layer ones (resnet152's layer4). A bound that catches a wrong layout or step, not a precision
// claim.
double bf16_tolerance(const std::string& model) {
  return model.find("101") != std::string::npos || model.find("152") != std::string::npos ? 0.15 : 5e-2;
}
// Gradients: as tests/parity/test_gradients.cpp.
constexpr double kGradientTolerance = 1e-3;

std::string features_file(const std::string& file) {
  return fixture_path("features/" + file);
}

const nlohmann::json& manifest() {
  static const nlohmann::json m = load_json(features_file("manifest.json"));
  return m;
}

// The C++ model of fixture `name` with its weights, eval mode.
std::unique_ptr<ResNet> load_feature_model(const std::string& name) {
  const nlohmann::json& spec = manifest()["models"][name];
  ResNetConfig config = zoo_config(spec["arch"].get<std::string>());
  apply_stem(config, spec["stem"].get<std::string>());
  config.replace_stride_with_dilation = spec["dilation"].get<std::array<bool, 3>>();
  auto model = std::make_unique<ResNet>(config, 0, Init::none);
  const std::string weights = features_file(spec["weights"].get<std::string>());
  load_state_dict(*model, load_weights(weights), true, weights);
  model->set_training(false);
  return model;
}

std::vector<std::string> stages_of(const std::string& name) {
  std::vector<std::string> stages;
  for (const auto& [stage, shape] : manifest()["models"][name]["stages"].items()) stages.push_back(stage);
  // nlohmann's object is sorted by key: "layer1".."layer4", "stem"; put the stem first, as torch does.
  std::rotate(stages.begin(), stages.end() - 1, stages.end());
  return stages;
}

void expect_stage_close(const std::string& what, const Tensor& ours_nchw, const std::string& expected_file,
                        double tolerance) {
  const Tensor expected = load_npy(features_file(expected_file));
  ASSERT_EQ(shape_str(ours_nchw.shape()), shape_str(expected.shape())) << what;
  const Difference d = difference(ours_nchw, expected);
  report_difference(what, d);
  EXPECT_LE(d.ratio(), tolerance) << what;
}

std::vector<std::string> feature_models() {
  std::vector<std::string> models = torchvision_models();
  for (const char* extra : {"resnet50_dilated", "resnet20", "resnet18_cifar"}) models.push_back(extra);
  return models;
}

class ParityFeatures : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityFeatures, LibraryStagesEqualIntermediateLayerGetter) {
  SKIP_WITHOUT_FIXTURES();
  const std::string name = GetParam();
  auto model = load_feature_model(name);
  const std::vector<std::string> stages = stages_of(name);
  const Tensor x = nchw_to_nhwc(load_npy(features_file(name + ".input.npy")));

  const std::vector<Tensor> layer_by_layer = model->forward_features(x, stages);
  const std::vector<Tensor> f32 =
      InferencePlan::compile_features(*model, stages, Precision::f32, x.shape()).run_features(x);
  const std::vector<Tensor> bf16 =
      InferencePlan::compile_features(*model, stages, Precision::bf16, x.shape()).run_features(x);
  for (size_t i = 0; i < stages.size(); ++i) {
    const std::string expected = name + "." + stages[i] + ".npy";
    expect_stage_close(name + " " + stages[i] + " forward_features", nhwc_to_nchw(layer_by_layer[i]),
                       expected, kLogitsTolerance);
    expect_stage_close(name + " " + stages[i] + " plan f32", nhwc_to_nchw(f32[i]), expected,
                       kLogitsTolerance);
    expect_stage_close(name + " " + stages[i] + " plan bf16", nhwc_to_nchw(bf16[i]), expected,
                       bf16_tolerance(name));
  }
}

TEST_P(ParityFeatures, FeatureInfoGivesTorchsChannelsAndReductions) {
  SKIP_WITHOUT_FIXTURES();
  const std::string name = GetParam();
  auto model = load_feature_model(name);
  const nlohmann::json& shapes = manifest()["models"][name]["stages"];
  const Tensor input = load_npy(features_file(name + ".input.npy"));
  const std::vector<FeatureInfo> info = model->feature_info();
  ASSERT_EQ(info.size(), shapes.size());
  for (const FeatureInfo& f : info) {
    const std::vector<int64_t> shape = shapes[f.name].get<std::vector<int64_t>>();  // NCHW
    EXPECT_EQ(f.channels, shape[1]) << name << " " << f.name;
    EXPECT_EQ(f.reduction, input.dim(2) / shape[2]) << name << " " << f.name;
  }
  if (name == "resnet50_dilated") {
    EXPECT_EQ(info[3].reduction, 8);
    EXPECT_EQ(info[4].reduction, 8);
  }
}

// $RESNET_BIN; else the build tree's tool (<build>/resnet, next to <build>/tests/parity_tests).
std::string resnet_bin() {
  if (const char* env = std::getenv("RESNET_BIN")) return env;
  std::error_code error;
  const auto beside = fs::read_symlink("/proc/self/exe", error).parent_path().parent_path() / "resnet";
  return !error && fs::exists(beside) ? beside.string() : "";
}

TEST_P(ParityFeatures, CliWritesIntermediateLayerGetterStages) {
  SKIP_WITHOUT_FIXTURES();
  const std::string bin = resnet_bin();
  if (bin.empty()) GTEST_SKIP() << "RESNET_BIN is not set and no build-tree resnet was found";
  const std::string name = GetParam();
  const nlohmann::json& spec = manifest()["models"][name];
  const std::vector<std::string> stages = stages_of(name);
  std::string stage_list;
  for (const std::string& s : stages) stage_list += (stage_list.empty() ? "" : ",") + s;
  std::string dilation;
  for (const bool d : spec["dilation"])
    dilation += std::string(dilation.empty() ? "" : ",") + (d ? "1" : "0");
  const char* env = std::getenv("RESNET_TEST_TMP");
  const fs::path tmp = fs::path(env ? env : fs::temp_directory_path().string()) / "parity_features";
  for (const std::string mode : {"plan", "no-fuse"}) {
    const fs::path out = tmp / (name + "." + mode);
    fs::remove_all(out);
    fs::create_directories(tmp);
    const fs::path log = tmp / (name + "." + mode + ".log");
    const std::string command = bin + " features --arch " + spec["arch"].get<std::string>() + " --weights " +
                                features_file(spec["weights"].get<std::string>()) + " --input-npy " +
                                features_file(name + ".input.npy") + " --out-dir " + out.string() +
                                " --stages " + stage_list + " --stem " + spec["stem"].get<std::string>() +
                                " --dilation " + dilation + (mode == "no-fuse" ? " --no-fuse" : "") + " >" +
                                log.string() + " 2>&1";
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << read_text(log.string());
    for (const std::string& stage : stages) {
      expect_stage_close(name + " " + stage + " resnet features " + mode,
                         load_npy((out / (stage + ".npy")).string()), name + "." + stage + ".npy",
                         kLogitsTolerance);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ParityFeatures, ::testing::ValuesIn(feature_models()),
                         [](const auto& info) { return param_name(info.param); });

class ParityFeatureGradients : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityFeatureGradients, BackwardFeaturesGivesTorchAutogradsGradients) {
  SKIP_WITHOUT_FIXTURES();
  const std::string name = GetParam();
  auto model = load_feature_model(name);
  model->set_training(true);
  const std::vector<std::string> stages = stages_of(name);
  const Tensor x = nchw_to_nhwc(load_npy(features_file(name + ".train.input.npy")));
  model->forward_features(x, stages);
  std::vector<Tensor> dfeatures;
  for (const std::string& stage : stages) {
    dfeatures.push_back(nchw_to_nhwc(load_npy(features_file(name + ".train.r." + stage + ".npy"))));
  }
  const Tensor dx = model->backward_features(dfeatures);
  ASSERT_TRUE(dx.defined());
  const Tensor expected_dx = load_npy(features_file(name + ".train.dx.npy"));
  const Difference d = difference(nhwc_to_nchw(dx), expected_dx);
  report_difference(name + " dL/dinput", d);
  EXPECT_LE(d.ratio(), kGradientTolerance);
  for (const auto& parameter : manifest()["train_parameters"]) {
    const std::string key = parameter.get<std::string>();
    const Tensor expected = load_npy(features_file(name + ".train.grad." + key + ".npy"));
    for (Parameter* p : model->parameters()) {
      if (p->name != key) continue;
      ASSERT_TRUE(p->grad.defined()) << key;
      ASSERT_EQ(shape_str(p->grad.shape()), shape_str(expected.shape())) << key;
      const Difference g = difference(p->grad, expected);
      report_difference(name + " " + key + ".grad", g);
      EXPECT_LE(g.ratio(), kGradientTolerance) << key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ParityFeatureGradients, ::testing::Values("resnet18", "resnet50"));

}  // namespace
}  // namespace resnet::parity
