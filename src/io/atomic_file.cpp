#include "io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "resnet/error.h"

namespace resnet {
namespace {

// fsync of the directory makes the rename itself durable; failure to open the directory is not an error
// (some file systems do not allow it), failure to sync is ignored for the same reason.
void sync_directory_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), temp_path_(fmt::format("{}.tmp.{}", path_, ::getpid())) {
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(fmt::format("{}: cannot write: {}", path_, std::strerror(errno)));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFile::fail(std::string_view what) {
  std::string message = fmt::format("{}: cannot write ({}): {}", path_, what, std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
  throw InputError(message);
}

void AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw InputError(fmt::format("{}: write after commit", path_));
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw InputError(fmt::format("{}: commit twice", path_));
  if (::fsync(fd_) != 0) fail("fsync");
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temp_path_.c_str());
    throw InputError(fmt::format("{}: cannot write (close): {}", path_, std::strerror(errno)));
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::string message = fmt::format("{}: cannot write (rename): {}", path_, std::strerror(errno));
    ::unlink(temp_path_.c_str());
    throw InputError(message);
  }
  sync_directory_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace resnet
