#include "infer/tuning_cache.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/json_input.h"
#include "resnet/error.h"

namespace resnet::infer {
namespace {

// 3: choices timed in interleaved rounds, the untuned kernel kept unless 5% slower; 2: int8 choices only
// among kernels of the untuned results; names, not positions.
constexpr int kFormat = 3;

nlohmann::json empty_cache() {
  return {{"format", kFormat}, {"machines", nlohmann::json::object()}};
}

// Throws InputError naming the first thing that is not a tuning cache's.
void check_shape(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat || !j.contains("machines") ||
      !j["machines"].is_object()) {
    throw InputError(fmt::format("{}: not a resnet.cpp tuning cache of format {}", path, kFormat));
  }
  for (const auto& [machine, convs] : j["machines"].items()) {
    if (!convs.is_object())
      throw InputError(fmt::format("{}: machine '{}' is not an object", path, excerpt(machine)));
    for (const auto& [conv, entry] : convs.items()) {
      if (!entry.is_object() || !entry.contains("kernel") || !entry["kernel"].is_string()) {
        throw InputError(fmt::format("{}: entry '{}' has no kernel name", path, excerpt(conv)));
      }
    }
  }
}

}  // namespace

std::string default_tuning_cache_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/resnet.cpp/tuning.json";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/resnet.cpp/tuning.json";
  return "";
}

TuningCache::TuningCache(std::string path, bool warn)
    : path_(path.empty() ? default_tuning_cache_path() : std::move(path)), json_(empty_cache()) {
  if (path_.empty() || !std::filesystem::exists(path_)) return;
  try {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot be read", path_));
    std::ostringstream text;
    text << in.rdbuf();
    nlohmann::json j = parse_json(text.str(), path_);
    check_shape(j, path_);
    json_ = std::move(j);
  } catch (const InputError& e) {
    if (warn) std::cerr << fmt::format("resnet: warning: tuning cache ignored, tuning again: {}\n", e.what());
    changed_ = true;  // replace it with a valid one
  }
}

bool TuningCache::has_machine(const std::string& machine) const {
  const auto& machines = json_["machines"];
  return machines.contains(machine) && !machines[machine].empty();
}

std::optional<std::string> TuningCache::lookup(const std::string& machine,
                                               const std::string& convolution) const {
  const auto& machines = json_["machines"];
  if (!machines.contains(machine) || !machines[machine].contains(convolution)) return std::nullopt;
  return machines[machine][convolution]["kernel"].get<std::string>();
}

void TuningCache::record(const std::string& machine, const std::string& convolution,
                         const std::string& kernel, double ms) {
  json_["machines"][machine][convolution] = {{"kernel", kernel}, {"ms", ms}};
  changed_ = true;
}

void TuningCache::save() {
  if (!changed_ || path_.empty()) return;
  try {
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
    write_file_atomic(path_, json_.dump(1) + "\n");
    changed_ = false;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("resnet: warning: tuning cache not written: {}\n", e.what());
  }
}

}  // namespace resnet::infer
