// The torchvision oracle's fixtures (written by tests/oracle/make_fixtures.py into $RESNET_FIXTURES): finding
// the files, reading them, building the model a fixture describes, and comparing outputs.
//
// A fixture model <m> is one of the ten zoo names, "resnet18_1ch_7cls" (torchvision resnet18(num_classes=7)
// with a 1-channel conv1) or "resnet50_dilated" (resnet50(replace_stride_with_dilation=[False, True, True])).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "resnet/model.h"
#include "resnet/npy.h"
#include "resnet/tensor.h"
#include "resnet/zoo.h"

namespace resnet::parity {

// Skips the calling test when $RESNET_FIXTURES is not set (ctest always sets it, after running
// make_fixtures).
#define SKIP_WITHOUT_FIXTURES()                                                                       \
  do {                                                                                                \
    if (::resnet::parity::fixtures_dir().empty())                                                     \
      GTEST_SKIP() << "RESNET_FIXTURES is not set; run tests/oracle/make_fixtures.py DIR and set it"; \
  } while (0)

inline std::string fixtures_dir() {
  const char* dir = std::getenv("RESNET_FIXTURES");
  return dir ? std::string(dir) : std::string();
}

// The path of a fixture file; throws (the test fails with the message) when it does not exist.
inline std::string fixture_path(const std::string& file) {
  const std::filesystem::path path = std::filesystem::path(fixtures_dir()) / file;
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("missing fixture " + path.string() + " (run tests/oracle/make_fixtures.py)");
  }
  return path.string();
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline nlohmann::json load_json(const std::string& path) {
  return nlohmann::json::parse(read_text(path));
}

inline Tensor load_fixture_npy(const std::string& file) {
  return load_npy(fixture_path(file));
}

// The model a fixture describes, with fresh (seeded) weights.
inline ResNetConfig fixture_config(const std::string& model) {
  if (model == "resnet18_1ch_7cls") return zoo_config("resnet18", 7, 1);
  if (model == "resnet50_dilated") {
    ResNetConfig config = zoo_config("resnet50");
    config.replace_stride_with_dilation = {false, true, true};
    return config;
  }
  return zoo_config(model);
}

inline std::unique_ptr<ResNet> build_fixture_model(const std::string& model) {
  return std::make_unique<ResNet>(fixture_config(model), /*seed=*/0);
}

// torchvision.models' ResNets, in its order (zoo_names() also lists our CIFAR networks, which torchvision
// lacks).
inline const std::vector<std::string>& torchvision_models() {
  static const std::vector<std::string> models = {
      "resnet18",        "resnet34",         "resnet50",         "resnet101",       "resnet152",
      "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"};
  return models;
}

// Every fixture model: torchvision's ten, then the two variants.
inline std::vector<std::string> fixture_models() {
  std::vector<std::string> models = torchvision_models();
  models.push_back("resnet18_1ch_7cls");
  models.push_back("resnet50_dilated");
  return models;
}

// How far `ours` is from `reference`: max |ours - reference| / max |reference|.
struct Difference {
  double max_abs = 0;        // max |ours - reference|
  double max_reference = 0;  // max |reference|
  double ratio() const { return max_reference > 0 ? max_abs / max_reference : max_abs; }
};

// Both f32 with equal shapes (the caller asserts the shapes first).
inline Difference difference(const Tensor& ours, const Tensor& reference) {
  Difference d;
  const float* a = ours.f32();
  const float* b = reference.f32();
  for (int64_t i = 0, n = reference.numel(); i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    d.max_abs = std::isnan(diff) ? INFINITY : std::max(d.max_abs, diff);
    d.max_reference = std::max(d.max_reference, std::fabs(static_cast<double>(b[i])));
  }
  return d;
}

// Records the ratio in the test's XML output and prints it, so a run shows how close we are, not only
// pass/fail.
inline void report_difference(const std::string& what, const Difference& d) {
  ::testing::Test::RecordProperty("max_diff_ratio", std::to_string(d.ratio()));
  std::printf("[ parity   ] %s: max|ours - torch| = %.3g, max|torch| = %.3g, ratio %.3g\n", what.c_str(),
              d.max_abs, d.max_reference, d.ratio());
}

// gtest parameter names allow only [A-Za-z0-9_].
inline std::string param_name(std::string name) {
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

// Logits tolerance: max |ours - torch| <= kLogitsTolerance * max |torch|.
inline constexpr double kLogitsTolerance = 1e-4;

}  // namespace resnet::parity
