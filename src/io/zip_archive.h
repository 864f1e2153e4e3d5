// A zip archive read with libzip (torch.save's container). Every error is an InputError naming the file and
// the entry. An entry's claimed sizes are checked against what the archive can hold before anything is
// allocated, and an entry may be read only as far as it is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/deflate_ratio.h"

struct zip;  // libzip's zip_t

namespace resnet {

class ZipArchive {
 public:
  ZipArchive(const std::string& path, uint64_t file_size);  // the file at `path`, of `file_size` bytes
  // An archive in memory (`bytes` must outlive it); `name` stands for the path in messages.
  ZipArchive(std::span<const std::byte> bytes, const std::string& name);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  std::optional<uint64_t> find(const std::string& name) const;
  // The folder ("archive/") holding `file_name`: the entry named so or ending in "/<file_name>".
  std::optional<std::string> folder_of(std::string_view file_name) const;
  // The entry's uncompressed size in bytes, refused if the archive could not hold it.
  uint64_t size_of(uint64_t index, const std::string& name) const;
  // The whole entry, at most max_bytes; its CRC is verified.
  std::vector<std::byte> read(uint64_t index, const std::string& name, uint64_t max_bytes) const;
  // The entry's first `count` bytes (count <= size_of): only they are inflated. The CRC, which covers the
  // whole entry, is verified when count is the whole entry.
  std::vector<std::byte> read_prefix(uint64_t index, const std::string& name, uint64_t count) const;

 private:
  [[noreturn]] void fail(const std::string& name, std::string_view what) const;

  std::string path_;
  uint64_t file_size_;
  struct zip* zip_ = nullptr;
};

}  // namespace resnet
