// The torch oracle of test_loss.cpp, test_optim.cpp and test_schedule.cpp:
// tests/oracle/make_optim_fixtures.py (run by /usr/bin/python3 with torch) writes manifest.json and .npy
// arrays into a directory named after the script's contents, under $RESNET_TEST_TMP (or the system temp
// directory). The first test process that finds the directory missing runs the script; an edited script gets
// a fresh directory.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "resnet/npy.h"
#include "resnet/tensor.h"

namespace resnet::optim_oracle {

namespace fs = std::filesystem;

struct Fixtures {
  fs::path dir;
  nlohmann::json manifest;
  std::string error;  // empty when the fixtures are there
};

inline const Fixtures& fixtures() {
  static const Fixtures loaded = [] {
    Fixtures f;
    const fs::path script = fs::path(__FILE__).parent_path() / ".." / "oracle" / "make_optim_fixtures.py";
    std::ifstream in(script, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    const char* tmp = std::getenv("RESNET_TEST_TMP");
    const fs::path root = tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::temp_directory_path();
    std::stringstream name;
    name << "optim_oracle_" << std::hex << std::hash<std::string>{}(contents.str());
    f.dir = root / name.str();
    if (!fs::exists(f.dir / "manifest.json")) {
      fs::create_directories(root);
      const std::string command = "/usr/bin/python3 '" + script.string() + "' '" + f.dir.string() + "'";
      if (std::system(command.c_str()) != 0) {
        f.error = command + " failed (needs /usr/bin/python3 with torch)";
        return f;
      }
    }
    f.manifest = nlohmann::json::parse(std::ifstream(f.dir / "manifest.json"));
    return f;
  }();
  return loaded;
}

inline const nlohmann::json& manifest() {
  return fixtures().manifest;
}

// An array of the manifest (a file name) as f32.
inline Tensor array(const nlohmann::json& file) {
  return load_npy((fixtures().dir / file.get<std::string>()).string());
}

// Largest |a - b| relative to the largest |b| of the tensor (its scale).
inline double max_scaled_diff(const Tensor& a, const Tensor& b) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.f32()[i]) - double(b.f32()[i])));
    scale = std::max(scale, std::abs(double(b.f32()[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

}  // namespace resnet::optim_oracle

// In a test: fails it (and returns) when the oracle could not be built.
#define REQUIRE_OPTIM_ORACLE() \
  if (!::resnet::optim_oracle::fixtures().error.empty()) FAIL() << ::resnet::optim_oracle::fixtures().error
