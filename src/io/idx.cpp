#include "io/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "io/deflate_ratio.h"
#include "io/input_file.h"
#include "resnet/error.h"
#include "resnet/tensor.h"

namespace resnet {
namespace {

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// A gzip stream inflated on demand, every member of it (gzip allows concatenated members); zlib checks each
// member's CRC-32 and size as its end is reached.
class GzipStream {
 public:
  GzipStream(const std::vector<uint8_t>& in, const std::string& name) : in_size_(in.size()), name_(name) {
    if (in.size() > UINT_MAX) throw fail("files over 4 GiB are not supported");
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw InternalError("zlib: inflateInit2 failed");
    zs_.next_in = const_cast<Bytef*>(in.data());
    zs_.avail_in = static_cast<uInt>(in.size());
  }
  ~GzipStream() { inflateEnd(&zs_); }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Appends up to `count` inflated bytes to `out`: fewer only where the stream ends. `out` grows with what
  // arrives (doubling), never to `count` up front.
  void read(uint64_t count, std::vector<uint8_t>& out) {
    const size_t target = out.size() + count;
    while (out.size() < target && !ended_) {
      const size_t have = out.size();
      out.resize(std::min<size_t>(target, have + std::max<size_t>(have, 1 << 16)));
      out.resize(have + inflate_into(out.data() + have, out.size() - have));
    }
  }
  // Inflates what is left (into a scratch buffer), so that every CRC is checked; returns how many bytes.
  uint64_t skip_rest() {
    std::vector<uint8_t> scratch(1 << 16);
    uint64_t skipped = 0;
    while (!ended_) skipped += inflate_into(scratch.data(), scratch.size());
    return skipped;
  }

 private:
  InputError fail(const std::string& what) const {
    return InputError(fmt::format("{}: gzip: {}", name_, what));
  }
  // Fills up to `room` bytes at `dst`; fewer only at the end of the stream.
  size_t inflate_into(uint8_t* dst, size_t room) {
    size_t produced = 0;
    while (produced < room && !ended_) {
      const size_t chunk = std::min<size_t>(room - produced, UINT_MAX);
      zs_.next_out = dst + produced;
      zs_.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      produced += chunk - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        if (zs_.avail_in == 0) {
          ended_ = true;
        } else if (zs_.avail_in >= 2 && zs_.next_in[0] == 0x1f && zs_.next_in[1] == 0x8b) {  // another member
          inflateReset(&zs_);
        } else {
          throw fail(fmt::format("{} bytes of trailing garbage after the compressed data", zs_.avail_in));
        }
        continue;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw fail(fmt::format("corrupt compressed data ({}) after {} compressed bytes",
                               zs_.msg ? zs_.msg : "zlib error", in_size_ - zs_.avail_in));
      }
      if (zs_.avail_in == 0 && zs_.avail_out != 0) {
        throw fail(fmt::format("truncated: the compressed stream ends after {} bytes ({} bytes decompressed)",
                               in_size_, total_ + produced));
      }
    }
    total_ += produced;
    return produced;
  }

  z_stream zs_{};
  uint64_t in_size_;
  std::string name_;
  uint64_t total_ = 0;  // bytes inflated so far
  bool ended_ = false;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::vector<uint8_t> read_file(const std::string& path) {
  InputFile file(path);
  std::vector<uint8_t> bytes(file.size());
  file.read(0, bytes.data(), bytes.size());
  return bytes;
}

struct IdxHeader {
  std::vector<int64_t> dims;
  uint64_t numel = 1;  // saturated at 2^62 (then reported as truncated)
  size_t bytes = 0;    // 4 + 4 * rank
};

// The magic, type and dims at the start of `bytes` (which may hold only the header).
IdxHeader parse_idx_header(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() < 4) {
    throw InputError(
        fmt::format("{}: not an IDX file: {} bytes, its header alone needs 4", name, bytes.size()));
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    throw InputError(
        fmt::format("{}: not an IDX file: bad magic {:02x} {:02x} {:02x} {:02x} (expected 00 00 08 <rank>)",
                    name, bytes[0], bytes[1], bytes[2], bytes[3]));
  }
  if (bytes[2] != 0x08) {
    throw InputError(fmt::format(
        "{}: IDX element type 0x{:02x} is not supported (expected 0x08, unsigned byte)", name, bytes[2]));
  }
  const int rank = bytes[3];
  if (rank == 0) throw InputError(fmt::format("{}: IDX header has 0 dimensions", name));
  IdxHeader header;
  header.bytes = 4 + 4 * size_t(rank);
  if (bytes.size() < header.bytes) {
    throw InputError(
        fmt::format("{}: truncated: the IDX header of {} dimensions needs {} bytes, the file has {}", name,
                    rank, header.bytes, bytes.size()));
  }
  for (int i = 0; i < rank; ++i) {
    uint32_t dim = big_endian_u32(bytes.data() + 4 + 4 * i);
    if (dim == 0) throw InputError(fmt::format("{}: IDX dimension {} is 0", name, i));
    header.dims.push_back(dim);
    header.numel = header.numel > (uint64_t(1) << 62) / dim ? (uint64_t(1) << 62) : header.numel * dim;
  }
  return header;
}

}  // namespace

std::vector<uint8_t> read_file_gunzip(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  if (!is_gzip(bytes)) return bytes;
  GzipStream stream(bytes, path);
  std::vector<uint8_t> out;
  stream.read(UINT64_MAX, out);
  return out;
}

IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name) {
  IdxHeader header = parse_idx_header(bytes, name);
  const uint64_t payload = bytes.size() - header.bytes;
  if (payload < header.numel) {
    throw InputError(fmt::format("{}: truncated: dims {} need {} bytes of data, the file has {}", name,
                                 shape_str(header.dims), header.numel, payload));
  }
  if (payload > header.numel) {
    throw InputError(fmt::format("{}: {} unexpected bytes after the data of dims {}", name,
                                 payload - header.numel, shape_str(header.dims)));
  }
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header.bytes));
  return IdxArray{std::move(header.dims), std::move(bytes)};
}

// A gzipped file is inflated as far as its header says, and the rest only counted: a header claiming more
// than the compressed file can hold is refused before its data is inflated.
IdxArray parse_idx_file(std::vector<uint8_t> file, const std::string& path) {
  if (!is_gzip(file)) return parse_idx(std::move(file), path);
  GzipStream stream(file, path);
  std::vector<uint8_t> head;
  stream.read(4, head);
  if (head.size() == 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08)
    stream.read(4 * uint64_t(head[3]), head);
  IdxHeader header = parse_idx_header(head, path);
  if (header.numel / kMaxDeflateRatio > file.size()) {
    throw InputError(
        fmt::format("{}: truncated: dims {} need {} bytes of data, more than a gzip file of {} "
                    "bytes can hold",
                    path, shape_str(header.dims), header.numel, file.size()));
  }
  IdxArray array{std::move(header.dims), {}};
  stream.read(header.numel, array.data);
  if (array.data.size() < header.numel) {
    throw InputError(fmt::format("{}: truncated: dims {} need {} bytes of data, the file has {}", path,
                                 shape_str(array.dims), header.numel, array.data.size()));
  }
  if (const uint64_t extra = stream.skip_rest(); extra > 0) {
    throw InputError(
        fmt::format("{}: {} unexpected bytes after the data of dims {}", path, extra, shape_str(array.dims)));
  }
  return array;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx_file(read_file(path), path);
}

ImageArray read_idx_dataset(const std::string& images_path, const std::string& labels_path, int num_classes) {
  IdxArray images = read_idx(images_path);
  if (images.dims.size() != 3) {
    throw InputError(fmt::format("{}: expected an IDX images array [count, rows, cols], the file has dims {}",
                                 images_path, shape_str(images.dims)));
  }
  if (images.dims[1] > INT_MAX || images.dims[2] > INT_MAX) {
    throw InputError(
        fmt::format("{}: images of {}x{} pixels are too large", images_path, images.dims[1], images.dims[2]));
  }
  IdxArray labels = read_idx(labels_path);
  if (labels.dims.size() != 1) {
    throw InputError(fmt::format("{}: expected an IDX labels array [count], the file has dims {}",
                                 labels_path, shape_str(labels.dims)));
  }
  if (labels.dims[0] != images.dims[0]) {
    throw InputError(fmt::format("{}: {} labels, but {} has {} images", labels_path, labels.dims[0],
                                 images_path, images.dims[0]));
  }
  ImageArray out;
  out.count = images.dims[0];
  out.height = static_cast<int>(images.dims[1]);
  out.width = static_cast<int>(images.dims[2]);
  out.channels = 1;
  out.pixels = std::move(images.data);
  out.labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= num_classes) {
      throw InputError(fmt::format("{}: label {} of sample {} is out of range (the dataset has {} classes)",
                                   labels_path, labels.data[i], i, num_classes));
    }
    out.labels[i] = labels.data[i];
  }
  return out;
}

}  // namespace resnet
