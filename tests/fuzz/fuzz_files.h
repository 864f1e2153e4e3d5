// Helpers the harnesses share: the parsers read files by path, so a harness writes libFuzzer's bytes into a
// scratch folder of its own (one per process, under $TMPDIR or /tmp, removed at exit) and calls the parser on
// that. A refusal (resnet::InputError) is the expected outcome of most inputs, never a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "resnet/error.h"

namespace resnet::fuzz {

// The scratch folder of this process: <tmp>/resnet_fuzz.<pid>, created on first use, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      path = std::filesystem::temp_directory_path() / ("resnet_fuzz." + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes `bytes` to <scratch>/<name> (replacing it) and returns its path.
inline std::string write_scratch_file(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `parse`; an InputError is the parser refusing the input, which is what it should do with garbage.
template <class Parse>
void expect_refusal_or_success(Parse&& parse) {
  try {
    parse();
  } catch (const resnet::InputError&) {
  }
}

}  // namespace resnet::fuzz
