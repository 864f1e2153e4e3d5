// What the training tests (test_train.cpp, test_segmentation_train.cpp) share: a fresh folder per test, file
// and text helpers, quiet TrainHooks, and running the `resnet` binary (RESNET_BIN, set by ctest).
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

namespace resnet::test {

// A fresh, empty folder for the current test: $RESNET_TEST_TMP (else the system's temporary folder) /
// `area` / <suite>.<test>[.<name>].
inline std::filesystem::path fresh_test_dir(const std::string& area, const std::string& name = "") {
  namespace fs = std::filesystem;
  const char* env = std::getenv("RESNET_TEST_TMP");
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir =
      fs::path(env != nullptr && *env != '\0' ? env : fs::temp_directory_path().string()) / area /
      (std::string(info->test_suite_name()) + "." + info->name() + (name.empty() ? "" : "." + name));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
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

struct CliResult {
  int exit_code;
  std::string out, err;
};

// The `resnet` binary ctest passes in RESNET_BIN; "" when it is not set.
inline std::string resnet_bin() {
  const char* bin = std::getenv("RESNET_BIN");
  return bin != nullptr ? bin : "";
}

// Runs `resnet <args>` through the shell, its stdout and stderr kept in dir/stdout and dir/stderr.
inline CliResult run_resnet(const std::string& args, const std::filesystem::path& dir) {
  const std::string command =
      resnet_bin() + " " + args + " >" + (dir / "stdout").string() + " 2>" + (dir / "stderr").string();
  const int status = std::system(command.c_str());
  return {WEXITSTATUS(status), read_bytes(dir / "stdout"), read_bytes(dir / "stderr")};
}

}  // namespace resnet::test

#define REQUIRE_RESNET_BIN() \
  if (::resnet::test::resnet_bin().empty()) GTEST_SKIP() << "RESNET_BIN is not set (ctest sets it)"
