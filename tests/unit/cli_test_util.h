// Running the `resnet` binary from a unit test (ctest passes its path in RESNET_BIN) and reading what it
// wrote: the one copy every CLI test uses (test_cli, test_train, test_quantize, test_onnx_export,
// test_segment_cli, ...).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace resnet::test {

struct CliResult {
  int exit_code;
  std::string out, err;
};

// A file's bytes ("" when it cannot be read).
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The `resnet` binary ctest passes in RESNET_BIN; "" when it is not set.
inline std::string resnet_bin() {
  const char* bin = std::getenv("RESNET_BIN");
  return bin != nullptr ? bin : "";
}

// Runs `resnet <args>` through the shell (args may quote and redirect) and returns its exit code, stdout and
// stderr, kept meanwhile in dir/stdout.<pid> and dir/stderr.<pid> (the pid keeps test processes that share
// dir apart: ctest runs several at once). Without RESNET_BIN: a test failure and exit code -1.
inline CliResult run_resnet(const std::string& args, const std::filesystem::path& dir) {
  const std::string bin = resnet_bin();
  if (bin.empty()) {
    ADD_FAILURE() << "RESNET_BIN is not set (ctest sets it)";
    return {-1, "", ""};
  }
  const std::string id = std::to_string(getpid());
  const std::filesystem::path out = dir / ("stdout." + id), err = dir / ("stderr." + id);
  const int status = std::system((bin + " " + args + " >" + out.string() + " 2>" + err.string()).c_str());
  CliResult result{WEXITSTATUS(status), read_bytes(out), read_bytes(err)};
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return result;
}

// XDG_CACHE_HOME (where the tuning cache lives) at a fresh folder parent/name.<pid> for one test; the
// previous value and no folder at its end.
class FreshCacheHome {
 public:
  FreshCacheHome(const std::filesystem::path& parent, const std::string& name)
      : dir_(parent / (name + "." + std::to_string(getpid()))) {
    std::filesystem::remove_all(dir_);
    const char* old = std::getenv("XDG_CACHE_HOME");
    saved_ = old ? old : "";
    setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
  }
  ~FreshCacheHome() {
    setenv("XDG_CACHE_HOME", saved_.c_str(), 1);
    std::filesystem::remove_all(dir_);
  }
  FreshCacheHome(const FreshCacheHome&) = delete;
  FreshCacheHome& operator=(const FreshCacheHome&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string saved_;
};

}  // namespace resnet::test

#define REQUIRE_RESNET_BIN() \
  if (::resnet::test::resnet_bin().empty()) GTEST_SKIP() << "RESNET_BIN is not set (ctest sets it)"
