// The tuning cache: the kernel the plan's tuning (PlanOptions::tune) chose for each convolution, per machine,
// so that a plan built again on the same machine times nothing. One JSON file:
//   {"format": 3, "machines": {"<machine>": {"<convolution>": {"kernel": "brg:avx512_core", "ms": 1.25}}}}
// <machine> names the CPU model, oneDNN's ISA and oneDNN's version (conv_tuner.h: tuning_machine_key); a
// <convolution> its shapes, layouts, post-ops, data type and which candidates were allowed. Entries of other
// machines are kept as they are (one file may travel between machines, or serve a shared home directory).
//
// Where: $XDG_CACHE_HOME/resnet.cpp/tuning.json, else $HOME/.cache/resnet.cpp/tuning.json. Written atomically
// (io/atomic_file.h). A file that is not a tuning cache is never an error: one warning line on stderr, and
// the plan tunes again and replaces it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace resnet::infer {

// $XDG_CACHE_HOME/resnet.cpp/tuning.json (an absolute XDG_CACHE_HOME), else
// $HOME/.cache/resnet.cpp/tuning.json;
// "" when neither variable is set.
std::string default_tuning_cache_path();

class TuningCache {
 public:
  // Reads `path` ("": the default path). A missing file is an empty cache; a file that cannot be read or is
  // not a tuning cache is an empty cache too, and (warn) one warning line on stderr says so.
  explicit TuningCache(std::string path, bool warn = true);

  const std::string& path() const { return path_; }
  bool has_machine(const std::string& machine) const;
  // The kernel chosen for `convolution` on `machine`, if recorded.
  std::optional<std::string> lookup(const std::string& machine, const std::string& convolution) const;
  // ms: the chosen kernel's time, for the reader of the file.
  void record(const std::string& machine, const std::string& convolution, const std::string& kernel,
              double ms);
  // Writes the file (making its folder) when record() added something; a failure warns on stderr and the
  // plan goes on (a cache is an optimisation, never a reason to fail).
  void save();

 private:
  std::string path_;
  nlohmann::json json_;
  bool changed_ = false;
};

}  // namespace resnet::infer
