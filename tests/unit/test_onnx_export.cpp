// ONNX export (resnet/onnx_export.h, `resnet export`): the file read back with onnx's own protobuf classes
// has the input `input` [N,C,H,W] (N fixed or "batch"), the output `logits` / `masks`, the opset asked for,
// and initializers named and shaped as the state_dict (num_batches_tracked aside); --fold-bn leaves no
// BatchNormalization. Bad options and files are an InputError (the CLI: one line, exit 2) and leave no file.
// The numbers themselves are checked against ONNX Runtime and OpenVINO by tests/onnx/check_onnx_export.py.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "input_error.h"
#include "resnet/onnx_export.h"
#include "resnet/unet.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "unit/cli_test_util.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

using test::CliResult;
using test::read_bytes;

class OnnxExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("RESNET_TEST_TMP");
    dir_ = fs::path(tmp ? tmp : fs::temp_directory_path().string()) / fmt::format("onnx_export.{}", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  static onnx::ModelProto read_model(const std::string& file) {
    onnx::ModelProto model;
    const std::string bytes = read_bytes(file);
    EXPECT_TRUE(model.ParseFromString(bytes)) << file;
    return model;
  }

  // "N,C,H,W" of a graph input or output; a symbolic dimension as its name.
  static std::string dims(const onnx::ValueInfoProto& value) {
    std::string out;
    for (const auto& d : value.type().tensor_type().shape().dim())
      out += (out.empty() ? "" : ",") + (d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
    return out;
  }

  static std::map<std::string, Shape> initializers(const onnx::ModelProto& model) {
    std::map<std::string, Shape> out;
    for (const auto& t : model.graph().initializer()) out[t.name()] = Shape(t.dims().begin(), t.dims().end());
    return out;
  }

  static std::map<std::string, Shape> state_dict_shapes(Module& model) {
    std::map<std::string, Shape> out;
    for (const NamedTensor& t : model.state_dict())
      if (!t.name.ends_with("num_batches_tracked")) out[t.name] = t.tensor.shape();
    return out;
  }

  static int count_ops(const onnx::ModelProto& model, const std::string& op) {
    return static_cast<int>(std::count_if(model.graph().node().begin(), model.graph().node().end(),
                                          [&](const onnx::NodeProto& n) { return n.op_type() == op; }));
  }

  static CliResult resnet(const std::string& args) { return test::run_resnet(args, dir_); }

  // No file at `file` and no temp file beside it.
  static void expect_no_output(const std::string& file) {
    EXPECT_FALSE(fs::exists(file)) << file;
    for (const auto& entry : fs::directory_iterator(fs::path(file).parent_path()))
      EXPECT_EQ(entry.path().string().find(file + ".tmp"), std::string::npos) << entry.path();
  }

  static inline fs::path dir_;
};

TEST_F(OnnxExport, InitializersAreTheStateDictAndTheInputIsNamedInput) {
  ResNet model(zoo_config("resnet20", 7, 1), /*seed=*/3);
  const std::string file = path("resnet20.onnx");
  export_onnx(model, file, {.opset = 13, .batch = 2});
  const onnx::ModelProto m = read_model(file);
  EXPECT_EQ(initializers(m), state_dict_shapes(model));
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(dims(m.graph().input(0)), "2,1,32,32");
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(dims(m.graph().output(0)), "2,7");
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 19);
  EXPECT_EQ(count_ops(m, "Pad"), 2);  // the two zero-pad shortcuts (stages 2 and 3)
  EXPECT_EQ(count_ops(m, "Slice"), 2);
}

TEST_F(OnnxExport, DynamicBatchIsSymbolicAndFoldBnLeavesNoBatchNorm) {
  ResNet model(zoo_config("resnet18", 5), /*seed=*/4);
  const std::string file = path("resnet18.onnx");
  export_onnx(model, file, {.dynamic_batch = true, .fold_bn = true, .image_size = 64});
  const onnx::ModelProto m = read_model(file);
  EXPECT_EQ(dims(m.graph().input(0)), "batch,3,64,64");
  EXPECT_EQ(dims(m.graph().output(0)), "batch,5");
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(m, "Conv"), 20);
  const auto init = initializers(m);
  EXPECT_EQ(init.at("conv1.bias"), (Shape{64}));  // the folded BN's shift, named after its conv
  EXPECT_FALSE(init.contains("bn1.weight"));
}

TEST_F(OnnxExport, UNetOutputsMasksAtTheInputSize) {
  UNet model(unet_zoo_config("unet-resnet18", 4, 3, 3), /*seed=*/5);
  const std::string file = path("unet.onnx");
  export_onnx(model, file, {.image_size = 32});
  const onnx::ModelProto m = read_model(file);
  EXPECT_EQ(dims(m.graph().output(0)), "1,4,32,32");
  EXPECT_EQ(m.graph().output(0).name(), "masks");
  EXPECT_EQ(count_ops(m, "Resize"), 3);
  EXPECT_EQ(count_ops(m, "Concat"), 2);
}

TEST_F(OnnxExport, RefusesOpsetsOutsideTheRangeAndLeavesNoFile) {
  ResNet model(zoo_config("resnet20"), 0, Init::none);
  for (int opset : {12, 18}) {
    const std::string file = path(fmt::format("opset{}.onnx", opset));
    test::expect_input_error([&] { export_onnx(model, file, {.opset = opset}); },
                             {fmt::format("opset {}", opset), "13..17"});
    expect_no_output(file);
  }
}

TEST_F(OnnxExport, RefusesABadBatchAndAUNetSizeThatIsNotAMultiple) {
  ResNet model(zoo_config("resnet20"), 0, Init::none);
  test::expect_input_error([&] { export_onnx(model, path("b0.onnx"), {.batch = 0}); }, "batch 0");
  expect_no_output(path("b0.onnx"));
  UNet unet(unet_zoo_config("unet-resnet18", 2, 3, 3), 0, Init::none);
  test::expect_input_error([&] { export_onnx(unet, path("u.onnx"), {.image_size = 36}); },
                           {"36", "multiple of 8"});
  expect_no_output(path("u.onnx"));
}

TEST_F(OnnxExport, RefusesABackboneWithoutClassifierAndAFolderThatDoesNotExist) {
  ResNetConfig config = zoo_config("resnet18");
  config.classifier = false;
  ResNet backbone(config, 0, Init::none);
  test::expect_input_error([&] { export_onnx(backbone, path("backbone.onnx")); }, "classifier");
  ResNet model(zoo_config("resnet20"), 0, Init::none);
  test::expect_input_error([&] { export_onnx(model, path("no/such/dir/m.onnx")); }, "no/such/dir");
}

TEST_F(OnnxExport, CliWritesTheFileAndReportsIt) {
  const std::string file = path("cli.onnx");
  const CliResult r =
      resnet(fmt::format("export --arch resnet20 --onnx {} --dynamic-batch --opset 15", file));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, fmt::format("resnet20 -> {} (opset 15, batch batch)\n", file));
  EXPECT_EQ(dims(read_model(file).graph().input(0)), "batch,3,32,32");
}

TEST_F(OnnxExport, CliBadFlagsAndFilesAreOneLineExitTwoAndNoFile) {
  const std::string file = path("bad.onnx");
  const std::string bad_weights = path("bad.safetensors");
  std::ofstream(bad_weights) << "not a safetensors file";
  ResNet other(zoo_config("resnet18"), 0, Init::none);
  const std::string wrong_weights = path("resnet18.safetensors");
  save_safetensors(other.state_dict(), wrong_weights);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--opset 12", "--opset 12: supported opsets are 13..17"},
      {"--opset 18", "13..17"},
      {"--batch 2 --dynamic-batch", "excludes"},
      {"--batch 0", "--batch"},
      {"--size 0", "--size"},
      {"--weights " + bad_weights, bad_weights},
      {"--weights " + wrong_weights, "conv1.weight"},
      {"--weights " + path("missing.safetensors"), "missing.safetensors"},
  };
  for (const auto& [flags, expected] : cases) {
    const CliResult r = resnet(fmt::format("export --arch resnet20 --onnx {} {}", file, flags));
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << flags << ": " << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << flags << ": " << r.err;
    expect_no_output(file);
  }
  const CliResult unet = resnet(fmt::format("export --arch unet-resnet18 --size 100 --onnx {}", file));
  EXPECT_EQ(unet.exit_code, 2) << unet.err;
  EXPECT_NE(unet.err.find("multiple of 32"), std::string::npos) << unet.err;
  expect_no_output(file);
}

}  // namespace
}  // namespace resnet
