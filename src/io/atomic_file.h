// AtomicFile: writes a file so that readers see either the old file or the complete new one, never a part.
// Bytes go to "<path>.tmp.<pid>" in the same directory (so the rename stays within one file system); commit()
// fsyncs the temp file, renames it over <path> and fsyncs the directory. Without commit() the destructor
// removes the temp file, so an exception half way leaves <path> untouched.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace resnet {

class AtomicFile {
 public:
  // Throws InputError naming `path` if the temp file cannot be created.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();

  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail(std::string_view what);

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
};

// The whole file at once.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace resnet
