#include "io/zip_archive.h"

#include <fmt/format.h>
#include <zip.h>

#include "resnet/error.h"

namespace resnet {
namespace {

[[noreturn]] void fail_to_open(const std::string& path, zip_error_t* error) {
  std::string reason = zip_error_strerror(error);
  zip_error_fini(error);
  throw InputError(fmt::format("{}: not a readable zip archive: {}", path, reason));
}

}  // namespace

ZipArchive::ZipArchive(const std::string& path, uint64_t file_size) : path_(path), file_size_(file_size) {
  int code = 0;
  zip_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (zip_ == nullptr) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    fail_to_open(path, &error);
  }
}

ZipArchive::ZipArchive(std::span<const std::byte> bytes, const std::string& name)
    : path_(name), file_size_(bytes.size()) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source == nullptr) fail_to_open(name, &error);
  zip_ = zip_open_from_source(source, ZIP_RDONLY, &error);
  if (zip_ == nullptr) {
    zip_source_free(source);
    fail_to_open(name, &error);
  }
  zip_error_fini(&error);
}

ZipArchive::~ZipArchive() {
  zip_discard(zip_);
}

std::optional<uint64_t> ZipArchive::find(const std::string& name) const {
  zip_int64_t index = zip_name_locate(zip_, name.c_str(), 0);
  if (index < 0) return std::nullopt;
  return static_cast<uint64_t>(index);
}

std::optional<std::string> ZipArchive::folder_of(std::string_view file_name) const {
  const std::string suffix = fmt::format("/{}", file_name);
  const zip_int64_t count = zip_get_num_entries(zip_, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* raw = zip_get_name(zip_, static_cast<zip_uint64_t>(i), 0);
    if (raw == nullptr) continue;
    std::string_view name(raw);
    if (name == file_name) return std::string();
    if (name.size() > suffix.size() && name.ends_with(suffix))
      return std::string(name.substr(0, name.size() - file_name.size()));
  }
  return std::nullopt;
}

// A lying size must not become a huge allocation: compare it with what the archive can hold.
uint64_t ZipArchive::size_of(uint64_t index, const std::string& name) const {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(zip_, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    fail(name, fmt::format("cannot read its size ({})", zip_strerror(zip_)));
  if (!(st.valid & ZIP_STAT_COMP_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD)) return st.size;
  if (st.comp_size > file_size_)
    fail(name, fmt::format("claims {} compressed bytes in a file of {}", st.comp_size, file_size_));
  const bool stored = st.comp_method == ZIP_CM_STORE;
  if ((stored && st.size != st.comp_size) || (!stored && st.size / kMaxDeflateRatio > st.comp_size + 1))
    fail(name, fmt::format("claims {} bytes from {} compressed bytes", st.size, st.comp_size));
  return st.size;
}

std::vector<std::byte> ZipArchive::read(uint64_t index, const std::string& name, uint64_t max_bytes) const {
  const uint64_t size = size_of(index, name);
  if (size > max_bytes) fail(name, fmt::format("{} bytes is more than the limit of {}", size, max_bytes));
  return read_prefix(index, name, size);
}

// Reading the whole entry reads one byte past its end, so that libzip verifies the CRC.
std::vector<std::byte> ZipArchive::read_prefix(uint64_t index, const std::string& name,
                                               uint64_t count) const {
  const uint64_t size = size_of(index, name);
  if (count > size) fail(name, fmt::format("needs {} bytes, the entry has {}", count, size));
  zip_file_t* file = zip_fopen_index(zip_, index, 0);
  if (file == nullptr) fail(name, fmt::format("cannot open ({})", zip_strerror(zip_)));
  std::vector<std::byte> bytes(count);
  uint64_t got = 0;
  while (got < count) {
    zip_int64_t n = zip_fread(file, bytes.data() + got, count - got);
    if (n <= 0) break;
    got += static_cast<uint64_t>(n);
  }
  char extra = 0;
  const bool whole = count == size;
  const zip_int64_t tail = got == count && whole ? zip_fread(file, &extra, 1) : 0;
  std::string reason = zip_file_strerror(file);
  zip_fclose(file);
  if (got < count)
    fail(name, fmt::format("truncated or corrupt: read {} of {} bytes ({})", got, size, reason));
  if (tail < 0) fail(name, fmt::format("corrupt ({})", reason));
  if (tail > 0) fail(name, fmt::format("holds more than the {} bytes its header says", size));
  return bytes;
}

void ZipArchive::fail(const std::string& name, std::string_view what) const {
  throw InputError(fmt::format("{}: zip entry '{}': {}", path_, name, what));
}

}  // namespace resnet
