// What the training tests (test_train.cpp, test_segmentation_train.cpp) share: a fresh folder per test, file
// and text helpers, quiet TrainHooks; running the `resnet` binary is cli_test_util.h's.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "resnet/train.h"
#include "unit/cli_test_util.h"

namespace resnet::test {

// Removes the folders fresh_test_dir() made for a test when that test passes (a failed test keeps them to
// look at): training tests write checkpoints of up to ~0.3 GB a run, ~4 GB over the suite otherwise.
class RemoveTestDirsOfPassedTests : public ::testing::EmptyTestEventListener {
 public:
  static RemoveTestDirsOfPassedTests& installed() {
    static RemoveTestDirsOfPassedTests* listener = [] {
      auto* l = new RemoveTestDirsOfPassedTests;
      ::testing::UnitTest::GetInstance()->listeners().Append(l);  // the listener list owns it
      return l;
    }();
    return *listener;
  }
  void add(const std::filesystem::path& dir) { dirs_.push_back(dir); }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() != nullptr && info.result()->Passed()) {
      std::error_code ignored;
      for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ignored);
    }
    dirs_.clear();
  }

 private:
  std::vector<std::filesystem::path> dirs_;
};

// A fresh, empty folder for the current test: $RESNET_TEST_TMP (else the system's temporary folder) /
// `area` / <suite>.<test>[.<name>]; removed when the test passes.
inline std::filesystem::path fresh_test_dir(const std::string& area, const std::string& name = "") {
  namespace fs = std::filesystem;
  const char* env = std::getenv("RESNET_TEST_TMP");
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir =
      fs::path(env != nullptr && *env != '\0' ? env : fs::temp_directory_path().string()) / area /
      (std::string(info->test_suite_name()) + "." + info->name() + (name.empty() ? "" : "." + name));
  fs::remove_all(dir);
  fs::create_directories(dir);
  RemoveTestDirsOfPassedTests::installed().add(dir);
  return dir;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Hooks that log to `log` and draw no progress bar.
inline TrainHooks quiet_hooks(std::ostream& log) {
  TrainHooks h;
  h.log = &log;
  h.progress = false;
  return h;
}

}  // namespace resnet::test
