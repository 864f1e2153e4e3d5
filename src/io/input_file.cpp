#include "io/input_file.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "resnet/error.h"

namespace resnet {

InputFile::InputFile(std::string path)
    : path_(std::move(path)), file_(std::fopen(path_.c_str(), "rb"), &std::fclose) {
  if (!file_) throw InputError(fmt::format("{}: cannot open: {}", path_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(::fileno(file_.get()), &st) != 0)
    throw InputError(fmt::format("{}: cannot open: {}", path_, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw InputError(fmt::format("{}: not a regular file", path_));
  size_ = static_cast<uint64_t>(st.st_size);
}

void InputFile::read(uint64_t offset, void* dst, uint64_t count) const {
  if (offset > size_ || count > size_ - offset) {
    throw InputError(fmt::format("{}: truncated: needs bytes {}..{}, the file has {}", path_, offset,
                                 offset + count, size_));
  }
  if (count == 0) return;
  if (::fseeko(file_.get(), static_cast<off_t>(offset), SEEK_SET) != 0 ||
      std::fread(dst, 1, count, file_.get()) != count) {
    throw InputError(fmt::format("{}: read error at byte {}: {}", path_, offset, std::strerror(errno)));
  }
}

std::string InputFile::read_string(uint64_t offset, uint64_t count) const {
  if (offset > size_ || count > size_ - offset) read(offset, nullptr, count);  // throws the truncation error
  std::string out(count, '\0');
  read(offset, out.data(), count);
  return out;
}

std::string InputFile::head(uint64_t count) const {
  return read_string(0, std::min(count, size_));
}

}  // namespace resnet
