// Files built to break the readers (issue 14's first fuzz campaign, tests/fuzz/regressions/): each is refused
// with one InputError naming the file — through the library, and through the CLI as one line with exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "input_error.h"
#include "resnet/int8_weights.h"
#include "resnet/npy.h"
#include "resnet/weights.h"
#include "train/checkpoint.h"
#include "unit/train_test_helpers.h"

namespace resnet::test {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A safetensors file with `header` and `data_size` zero bytes of data.
void write_safetensors(const fs::path& path, const std::string& header, size_t data_size = 0) {
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(uint64_t{header.size()} >> (8 * i));
  write_text(path, length + header + std::string(data_size, '\0'));
}

// An .int8.safetensors whose conv1 weight has no output channels: s8 [0,3,3,3] and f32 [0] scales.
void write_int8_without_output_channels(const fs::path& path) {
  save_safetensors({{"quant.int8_weight.conv1", Tensor({0, 3, 3, 3}, DType::s8)},
                    {"quant.int8_weight_scale.conv1", Tensor({0})},
                    {"quant.activation_scale.input", Tensor::full({1}, 0.5f)}},
                   path.string(), {{"format", "resnet.cpp int8"}, {"method", "minmax"}});
}

std::string deeply_nested(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

void expect_one_line_refusal(const CliResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("resnet: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_LT(r.err.size(), 600u) << r.err;
}

TEST(HostileFiles, Int8WeightWithoutOutputChannelsIsRefused) {
  const fs::path dir = fresh_test_dir("hostile");
  const std::string path = (dir / "zero.int8.safetensors").string();
  write_int8_without_output_channels(path);
  StateDict tensors = load_safetensors(path);
  expect_input_error([&] { take_int8_calibration(tensors, load_safetensors_metadata(path), path); },
                     {path, "'quant.int8_weight.conv1' is an empty convolution weight [0,3,3,3]"});
}

TEST(HostileFiles, DeeplyNestedRunFilesAreRefused) {
  const fs::path dir = fresh_test_dir("hostile");
  write_text(dir / "config.json", R"({"arch": )" + deeply_nested(100'000) + "}");
  const RunFiles files(dir.string());
  expect_input_error([&] { read_run_config(files); }, {files.config_json(), "JSON nested deeper than 64"});
  expect_input_error([&] { read_run_dataset_info(files); }, {files.config_json(), "nested deeper"});
  const std::string run_json = deeply_nested(100'000);
  std::string header = R"({"run.json":{"dtype":"U8","shape":[)" + std::to_string(run_json.size()) +
                       R"(],"data_offsets":[0,)" + std::to_string(run_json.size()) + "]}}";
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(uint64_t{header.size()} >> (8 * i));
  write_text(files.state(), length + header + run_json);
  expect_input_error([&] { load_run_state(files); }, {files.state(), "run.json: JSON nested deeper than 64"});
}

// A valid run config.json whose `key` (under "dataset_info" when `in_info`) holds `value` instead.
std::string config_with(const std::string& key, nlohmann::json value, bool in_info = false) {
  TrainConfig c;
  c.arch = "resnet20";
  c.dataset = "fashion-mnist";
  c.out_dir = "run";
  nlohmann::json j = nlohmann::json::parse(train_config_to_json(c));
  j["dataset_info"] = {{"name", "fashion-mnist"}, {"class_names", {"a", "b"}},
                       {"channels", 1},           {"image_size", 28},
                       {"mean", {0.5}},           {"std", {0.25}}};
  (in_info ? j["dataset_info"][key] : j[key]) = std::move(value);
  return j.dump();
}

// nlohmann's get<int>() of a float is a plain cast: undefined beyond int's range. Found by review after the
// first fuzz runs (tests/fuzz/regressions/run/float-image-size).
TEST(HostileFiles, FloatsWhereARunFileHasIntegersAreRefused) {
  const fs::path dir = fresh_test_dir("hostile");
  const RunFiles files(dir.string());
  write_text(files.config_json(), config_with("image_size", 1e300));
  expect_input_error([&] { read_run_config(files); }, {files.config_json(), "1e+300 is out of range"});
  write_text(files.config_json(), config_with("image_size", -3e9, true));
  expect_input_error([&] { read_run_dataset_info(files); }, {files.config_json(), "out of range"});
  write_text(files.config_json(), config_with("seed", -5.5));
  expect_input_error([&] { read_run_config(files); },
                     {files.config_json(), "\"seed\" must be an integer >= 0"});
  write_text(files.config_json(), config_with("image_size", 0));  // the same file with an integer reads
  EXPECT_EQ(read_run_config(files).arch, "resnet20");
}

TEST(HostileFilesCli, Int8WeightWithoutOutputChannels) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("hostile_cli");
  const std::string path = (dir / "zero.int8.safetensors").string();
  write_int8_without_output_channels(path);
  save_npy(Tensor({1, 3, 32, 32}), (dir / "x.npy").string());
  expect_one_line_refusal(run_resnet("convert " + path + " " + (dir / "out.safetensors").string(), dir),
                          "is an empty convolution weight");
  expect_one_line_refusal(
      run_resnet("infer --arch resnet18 --weights " + path + " --input-npy " + (dir / "x.npy").string(), dir),
      "is an empty convolution weight");
}

TEST(HostileFilesCli, JsonNumberOverflowInAHeader) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("hostile_cli");
  write_safetensors(dir / "overflow.safetensors", R"({"w": 1e999})");
  expect_one_line_refusal(run_resnet("convert " + (dir / "overflow.safetensors").string() + " " +
                                         (dir / "out.safetensors").string(),
                                     dir),
                          "overflow.safetensors: safetensors header: not valid JSON");
  write_safetensors(dir / "offsets.safetensors",
                    R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e999]}})", 4);
  expect_one_line_refusal(run_resnet("convert " + (dir / "offsets.safetensors").string() + " " +
                                         (dir / "out.safetensors").string(),
                                     dir),
                          "offsets.safetensors: safetensors header: not valid JSON");
}

TEST(HostileFilesCli, DeeplyNestedHeaderAndConfig) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("hostile_cli");
  write_safetensors(dir / "deep.safetensors",
                    R"({"w":{"dtype":"F32","shape":)" + deeply_nested(100'000) + R"(,"data_offsets":[0,4]}})",
                    4);
  expect_one_line_refusal(
      run_resnet("convert " + (dir / "deep.safetensors").string() + " " + (dir / "out.safetensors").string(),
                 dir),
      "deep.safetensors: safetensors header: JSON nested deeper than 64 levels");
  const fs::path run = dir / "run";
  fs::create_directories(run);
  write_text(run / "config.json", R"({"arch": )" + deeply_nested(100'000) + "}");
  expect_one_line_refusal(run_resnet("train --out " + run.string() + " --resume", dir),
                          "config.json: JSON nested deeper than 64 levels");
}

}  // namespace
}  // namespace resnet::test
