// A residual block describes its structure once (models/block_structure.h): the stages of its branch, its
// shortcut, dropout and output ReLU, all pointing at the block's own children. The inference plan's lowering
// walks that description and refuses any module it does not know. (Forward and backward walk it too; the
// gradient and plan parity tests against torchvision show they compute what they did.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infer/lower.h"
#include "models/blocks.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// As torchvision's _make_layer: the shortcut changes shape when the stride or the channel count does.
template <class Block>
BlockOptions options(int64_t inplanes, int64_t planes, int64_t stride,
                     Shortcut shortcut = Shortcut::projection, float dropout = 0.0f) {
  return {.inplanes = inplanes,
          .planes = planes,
          .stride = stride,
          .reshape_shortcut = stride != 1 || inplanes != planes * Block::kExpansion,
          .shortcut = shortcut,
          .dropout = dropout};
}

// The local names of the stage modules: "conv1+bn1+relu", "conv2+bn2".
std::vector<std::string> stage_names(const BlockStructure& s) {
  std::vector<std::string> names;
  for (const BranchStage& stage : s.branch) {
    std::string name = stage.conv->local_name();
    if (stage.bn) name.append("+").append(stage.bn->local_name());
    if (stage.relu) name.append("+").append(stage.relu->local_name());
    names.push_back(name);
  }
  return names;
}

// The child registered under `local_name`, or null.
const Module* child(const Module& m, const std::string& local_name) {
  for (const Module* c : m.children()) {
    if (c->local_name() == local_name) return c;
  }
  return nullptr;
}

TEST(BlockStructure, BasicBlockWithIdentityShortcut) {
  BasicBlock block("layer1.0", options<BasicBlock>(64, 64, 1));
  const BlockStructure& s = block.structure();
  EXPECT_EQ(stage_names(s), (std::vector<std::string>{"conv1+bn1+relu", "conv2+bn2"}));
  EXPECT_EQ(s.shortcut, ShortcutKind::identity);
  EXPECT_EQ(s.downsample, nullptr);
  EXPECT_EQ(s.zero_pad, nullptr);
  EXPECT_EQ(s.shortcut_module(), nullptr);
  EXPECT_EQ(s.dropout, nullptr);
  EXPECT_EQ(s.output_relu, child(block, "relu"));
  EXPECT_EQ(s.branch[0].conv->path(), "layer1.0.conv1");
  EXPECT_EQ(&block.last_bn(), child(block, "bn2"));
}

TEST(BlockStructure, BasicBlockWithProjectionShortcut) {
  BasicBlock block("layer2.0", options<BasicBlock>(64, 128, 2));
  const BlockStructure& s = block.structure();
  EXPECT_EQ(stage_names(s), (std::vector<std::string>{"conv1+bn1+relu", "conv2+bn2"}));
  EXPECT_EQ(s.shortcut, ShortcutKind::projection);
  ASSERT_NE(s.downsample, nullptr);
  EXPECT_EQ(s.downsample, child(block, "downsample"));
  EXPECT_EQ(s.shortcut_module(), s.downsample);
  ASSERT_EQ(s.downsample->children().size(), 2u);
  EXPECT_EQ(s.downsample->children()[0]->type_name(), "Conv2d");
  EXPECT_EQ(s.downsample->children()[1]->type_name(), "BatchNorm2d");
  EXPECT_EQ(s.zero_pad, nullptr);
}

TEST(BlockStructure, BasicBlockWithZeroPadShortcutAndDropout) {
  BasicBlock block("layer2.0", options<BasicBlock>(16, 32, 2, Shortcut::zero_pad, 0.2f));
  const BlockStructure& s = block.structure();
  EXPECT_EQ(stage_names(s), (std::vector<std::string>{"conv1+bn1+relu", "conv2+bn2"}));
  EXPECT_EQ(s.shortcut, ShortcutKind::zero_pad);
  ASSERT_NE(s.zero_pad, nullptr);
  EXPECT_EQ(s.zero_pad, child(block, "shortcut"));
  EXPECT_EQ(s.shortcut_module(), s.zero_pad);
  EXPECT_EQ(s.downsample, nullptr);
  ASSERT_NE(s.dropout, nullptr);
  EXPECT_EQ(s.dropout, child(block, "dropout"));
  EXPECT_EQ(s.dropout->type_name(), "Dropout2d");
}

TEST(BlockStructure, BottleneckWithIdentityShortcut) {
  Bottleneck block("layer1.1", options<Bottleneck>(256, 64, 1));
  const BlockStructure& s = block.structure();
  EXPECT_EQ(stage_names(s), (std::vector<std::string>{"conv1+bn1+relu", "conv2+bn2+relu", "conv3+bn3"}));
  EXPECT_EQ(s.shortcut, ShortcutKind::identity);
  EXPECT_EQ(s.dropout, nullptr);
  // torchvision's one "relu", called after both inner stages and after the join.
  EXPECT_EQ(s.branch[0].relu, s.output_relu);
  EXPECT_EQ(s.branch[1].relu, s.output_relu);
  EXPECT_EQ(s.output_relu, child(block, "relu"));
  EXPECT_EQ(&block.last_bn(), child(block, "bn3"));
}

TEST(BlockStructure, BottleneckWithProjectionShortcutAndDropout) {
  Bottleneck block("layer1.0",
                   options<Bottleneck>(64, 64, 1, Shortcut::projection, 0.1f));  // 64 -> 256 channels
  const BlockStructure& s = block.structure();
  EXPECT_EQ(stage_names(s), (std::vector<std::string>{"conv1+bn1+relu", "conv2+bn2+relu", "conv3+bn3"}));
  EXPECT_EQ(s.shortcut, ShortcutKind::projection);
  EXPECT_EQ(s.downsample, child(block, "downsample"));
  EXPECT_EQ(s.dropout, child(block, "dropout"));
}

TEST(BlockStructure, DescribesEveryChildOfTheZooBlocks) {
  BasicBlock basic("b", options<BasicBlock>(16, 32, 2, Shortcut::zero_pad, 0.2f));
  Bottleneck bottleneck("c", options<Bottleneck>(64, 128, 2, Shortcut::projection, 0.2f));
  for (const ResidualBlock* block : std::vector<const ResidualBlock*>{&basic, &bottleneck}) {
    for (const Module* c : block->children()) EXPECT_TRUE(block->structure().describes(*c)) << c->path();
  }
}

// ---- the lowering walks the description ----

TEST(LowerBlock, ProjectionFirstThenStagesWithTheirReluThenTheJoin) {
  Bottleneck block("layer2.0", options<Bottleneck>(64, 32, 2));
  block.set_training(false);
  const infer::Program program = infer::lower_module(block, 64);
  std::vector<std::string> steps;
  for (const infer::Step& step : program.steps) {
    steps.push_back(step.name + (step.relu ? " relu" : "") + (step.accumulate ? " accumulate" : ""));
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"layer2.0.downsample.0", "layer2.0.conv1 relu",
                                             "layer2.0.conv2 relu", "layer2.0.conv3 relu accumulate"}));
  EXPECT_EQ(program.output, program.steps.back().dst);
  EXPECT_EQ(program.steps.back().dst, program.steps.front().dst);  // the branch adds into the shortcut
}

// A module the plan does not know.
class TestOnlyLayer : public Module {
 public:
  explicit TestOnlyLayer(std::string path) : Module(std::move(path), "TestOnlyLayer") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// A block kind that registers a child its structure leaves out.
class BlockWithUndescribedChild : public ResidualBlock {
 public:
  explicit BlockWithUndescribedChild(std::string path) : ResidualBlock(std::move(path), "TestOnlyBlock") {
    auto& conv = add_child<Conv2d>("conv1", Conv2dOptions{.in_channels = 4, .out_channels = 4});
    auto& bn = add_child<BatchNorm2d>("bn1", 4);
    auto& relu = add_child<ReLU>("relu");
    add_child<BatchNorm2d>("extra", 4);
    structure_.branch = {{&conv, &bn, nullptr}};
    structure_.output_relu = &relu;
  }
};

std::string lowering_error(Module& module) {
  try {
    infer::lower_module(module, 4);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(LowerBlock, UnknownModuleInASequentialIsAnInputErrorNamingIt) {
  Sequential net("net");
  net.append<Conv2d>(Conv2dOptions{.in_channels = 4, .out_channels = 4});
  net.append<TestOnlyLayer>();
  const std::string error = lowering_error(net);
  EXPECT_NE(error.find("net.1 (TestOnlyLayer)"), std::string::npos) << error;
}

TEST(LowerBlock, BlockChildItsStructureDoesNotDescribeIsAnInputErrorNamingIt) {
  Sequential zoo_layer("layer1");
  zoo_layer.append<BasicBlock>(options<BasicBlock>(4, 4, 1)).set_training(false);
  EXPECT_EQ(lowering_error(zoo_layer), "no error");

  Sequential layer("layer1");
  layer.append<BlockWithUndescribedChild>();
  const std::string error = lowering_error(layer);
  EXPECT_NE(error.find("layer1.0.extra (BatchNorm2d)"), std::string::npos) << error;
  EXPECT_NE(error.find("layer1.0 (TestOnlyBlock)"), std::string::npos) << error;
}

TEST(LowerBlock, UnknownModuleInsideADownsampleIsAnInputErrorNamingIt) {
  BasicBlock block("layer2.0", options<BasicBlock>(4, 8, 2));
  // The described downsample Sequential is walked like any Sequential: an unknown module in it is an error
  // too.
  block.structure().downsample->append<TestOnlyLayer>();
  const std::string error = lowering_error(block);
  EXPECT_NE(error.find("layer2.0.downsample.2 (TestOnlyLayer)"), std::string::npos) << error;
}

}  // namespace
}  // namespace resnet
