// End to end through the tool: `resnet infer` on torchvision's .pth and an NCHW .npy writes torchvision's
// logits.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "parity/fixtures.h"

namespace resnet::parity {
namespace {

std::filesystem::path temp_dir() {
  const char* env = std::getenv("RESNET_TEST_TMP");
  auto dir =
      std::filesystem::path(env ? env : std::filesystem::temp_directory_path().string()) / "parity_cli";
  std::filesystem::create_directories(dir);
  return dir;
}

// $RESNET_BIN; else the build tree's tool (<build>/resnet, next to <build>/tests/parity_tests); else "".
std::string resnet_bin() {
  if (const char* env = std::getenv("RESNET_BIN")) return env;
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const auto beside = self.parent_path().parent_path() / "resnet";
  return std::filesystem::exists(beside) ? beside.string() : "";
}

TEST(ParityCli, InferOnTorchvisionPthWritesTorchvisionLogits) {
  SKIP_WITHOUT_FIXTURES();
  const std::string bin = resnet_bin();
  if (bin.empty()) GTEST_SKIP() << "RESNET_BIN is not set and no build-tree resnet was found";
  ASSERT_TRUE(std::filesystem::exists(bin)) << bin;

  const std::filesystem::path output = temp_dir() / "resnet18.b2_64.logits.npy";
  std::filesystem::remove(output);
  const std::filesystem::path log = temp_dir() / "infer.log";
  const std::string command = bin + " infer --arch resnet18 --weights " + fixture_path("resnet18.pth") +
                              " --input-npy " + fixture_path("resnet18.b2_64.input.npy") + " --output-npy " +
                              output.string() + " >" + log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << read_text(log.string());

  const Tensor logits = load_npy(output.string());
  const Tensor expected = load_fixture_npy("resnet18.b2_64.logits.npy");
  ASSERT_EQ(shape_str(logits.shape()), "[2,1000]");
  ASSERT_EQ(shape_str(logits.shape()), shape_str(expected.shape()));
  const Difference d = difference(logits, expected);
  report_difference("resnet infer resnet18", d);
  EXPECT_LE(d.ratio(), kLogitsTolerance);
}

}  // namespace
}  // namespace resnet::parity
