// InputFile: a read-only file of known size with bounds-checked reads; every error is an InputError naming
// the file. The parsers (safetensors, npy, pth, weights) read through it so none can read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace resnet {

class InputFile {
 public:
  explicit InputFile(std::string path);  // throws InputError "<path>: cannot open: <reason>"

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly `count` bytes at `offset`; throws InputError if they are not all in the file.
  void read(uint64_t offset, void* dst, uint64_t count) const;
  std::string read_string(uint64_t offset, uint64_t count) const;
  // Up to `count` bytes from the start (fewer if the file is shorter).
  std::string head(uint64_t count) const;

 private:
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  uint64_t size_ = 0;
};

}  // namespace resnet
