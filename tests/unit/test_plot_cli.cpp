// `resnet plot`: several runs' metrics.csv in one PNG — classification runs by test accuracy, segmentation
// runs (metrics.csv with test_miou) by test mIoU; a folder without metrics.csv is one line on stderr, exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "resnet/train.h"
#include "train_test_helpers.h"

namespace resnet::test {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

const char* kSegmentationMetrics =
    "epoch,train_loss,train_acc,test_loss,test_acc,test_miou,lr,seconds\n"
    "1,0.65,0.83,0.31,0.89,0.24,0.0007,60.0\n"
    "2,0.27,0.90,0.24,0.92,0.36,0.0002,60.0\n";
const char* kClassificationMetrics =
    "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n"
    "1,1.2,0.56,0.58,0.76,0.07,225.0\n";

TEST(PlotCli, DrawsSegmentationAndClassificationRuns) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("plot");
  write_text(dir / "seg-a" / "metrics.csv", kSegmentationMetrics);
  write_text(dir / "seg-b" / "metrics.csv", kSegmentationMetrics);
  write_text(dir / "cls" / "metrics.csv", kClassificationMetrics);

  // The files read back keep what tells the two kinds apart.
  EXPECT_TRUE(read_metrics_csv((dir / "seg-a" / "metrics.csv").string()).front().test_miou.has_value());
  EXPECT_FALSE(read_metrics_csv((dir / "cls" / "metrics.csv").string()).front().test_miou.has_value());

  for (const std::string& runs : {"a=" + (dir / "seg-a").string() + " b=" + (dir / "seg-b").string(),
                                  "a=" + (dir / "seg-a").string() + " c=" + (dir / "cls").string()}) {
    fs::remove(dir / "runs.png");
    const CliResult r = run_resnet("plot --out " + (dir / "runs.png").string() + " " + runs, dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_bytes(dir / "runs.png").substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  }
}

TEST(PlotCli, AFolderWithoutMetricsIsOneLineExit2) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("plot");
  const CliResult r =
      run_resnet("plot --out " + (dir / "runs.png").string() + " " + (dir / "nothing").string(), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_FALSE(fs::exists(dir / "runs.png"));
}

}  // namespace
}  // namespace resnet::test
