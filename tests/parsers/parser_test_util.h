// Helpers shared by the parser tests: a scratch directory, byte-level file writing, the fixtures made by
// tests/oracle/make_pth_fixtures.py, and the assertion that a load fails with an InputError naming file and
// reason.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "input_error.h"
#include "resnet/error.h"

namespace resnet::test {

namespace fs = std::filesystem;

// $RESNET_TEST_TMP, or <system temp>/resnet_test_tmp; created on first use.
inline fs::path test_tmp_root() {
  const char* env = std::getenv("RESNET_TEST_TMP");
  fs::path root =
      env != nullptr && *env != '\0' ? fs::path(env) : fs::temp_directory_path() / "resnet_test_tmp";
  fs::create_directories(root);
  return root;
}

// A fresh directory for the current test (removed and recreated), so tests never see each other's files.
inline fs::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = test_tmp_root() / "parsers" / (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The directory tests/oracle/make_pth_fixtures.py fills; runs the script the first time. Bump the version
// when the script changes so stale fixtures are rebuilt.
inline fs::path pth_fixtures() {
  static const fs::path dir = [] {
    fs::path d = test_tmp_root() / "pth_fixtures_v4";
    if (!fs::exists(d / "views.pth")) {
      fs::path script = fs::path(__FILE__).parent_path() / ".." / "oracle" / "make_pth_fixtures.py";
      std::string command = "/usr/bin/python3 '" + script.string() + "' '" + d.string() + "'";
      int status = std::system(command.c_str());
      if (status != 0 || !fs::exists(d / "views.pth")) {
        ADD_FAILURE() << "fixture script failed (" << status << "): " << command;
      }
    }
    return d;
  }();
  return dir;
}

}  // namespace resnet::test

// The load must fail with an InputError whose message names the file and contains `reason`.
#define EXPECT_INPUT_ERROR(load_expr, path, reason)                                             \
  do {                                                                                          \
    const std::string resnet_msg_ = ::resnet::test::input_error_of([&] { (void)(load_expr); }); \
    EXPECT_NE(resnet_msg_.find(std::string(path)), std::string::npos)                           \
        << "message does not name the file " << (path) << ": " << resnet_msg_;                  \
    EXPECT_NE(resnet_msg_.find(reason), std::string::npos)                                      \
        << "message does not say \"" << (reason) << "\": " << resnet_msg_;                      \
  } while (0)
