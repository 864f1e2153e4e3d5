#include "io/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "io/input_file.h"
#include "resnet/error.h"
#include "resnet/tensor.h"

namespace resnet {
namespace {

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Inflates every gzip member of `in` (gzip allows concatenated members). zlib checks each member's CRC-32 and
// size.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& name) {
  if (in.size() > UINT_MAX)
    throw InputError(fmt::format("{}: gzip: files over 4 GiB are not supported", name));
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw InternalError("zlib: inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, &inflateEnd);
  auto fail = [&](const std::string& what) { return InputError(fmt::format("{}: gzip: {}", name, what)); };

  // The trailer's ISIZE (uncompressed size mod 2^32) is only a hint for the first allocation: deflate cannot
  // expand data beyond ~1032x, and a corrupt trailer must not make us allocate gigabytes up front.
  uint64_t hint = in.size() >= 4 ? (uint64_t(in[in.size() - 1]) << 24 | uint64_t(in[in.size() - 2]) << 16 |
                                    uint64_t(in[in.size() - 3]) << 8 | uint64_t(in[in.size() - 4]))
                                 : 0;
  std::vector<uint8_t> out(
      std::clamp<uint64_t>(hint, 1 << 16, std::min<uint64_t>(in.size() * 1032ull, 1ull << 28) + (1 << 16)));
  size_t produced = 0;
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    size_t room = std::min<size_t>(out.size() - produced, UINT_MAX);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {  // another member
        inflateReset(&zs);
        continue;
      }
      throw fail(fmt::format("{} bytes of trailing garbage after the compressed data", zs.avail_in));
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw fail(fmt::format("corrupt compressed data ({}) after {} compressed bytes",
                             zs.msg ? zs.msg : "zlib error", in.size() - zs.avail_in));
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      throw fail(fmt::format("truncated: the compressed stream ends after {} bytes ({} bytes decompressed)",
                             in.size(), produced));
    }
  }
  out.resize(produced);
  return out;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace

std::vector<uint8_t> read_file_gunzip(const std::string& path) {
  InputFile file(path);
  std::vector<uint8_t> bytes(file.size());
  file.read(0, bytes.data(), bytes.size());
  if (is_gzip(bytes)) return gunzip(bytes, path);
  return bytes;
}

IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name) {
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
  const size_t header = 4 + 4 * size_t(rank);
  if (bytes.size() < header) {
    throw InputError(
        fmt::format("{}: truncated: the IDX header of {} dimensions needs {} bytes, the file has {}", name,
                    rank, header, bytes.size()));
  }
  IdxArray array;
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    uint32_t dim = big_endian_u32(bytes.data() + 4 + 4 * i);
    if (dim == 0) throw InputError(fmt::format("{}: IDX dimension {} is 0", name, i));
    array.dims.push_back(dim);
    numel = numel > (uint64_t(1) << 62) / dim ? (uint64_t(1) << 62)
                                              : numel * dim;  // saturate: reported as truncated
  }
  const uint64_t payload = bytes.size() - header;
  if (payload < numel) {
    throw InputError(fmt::format("{}: truncated: dims {} need {} bytes of data, the file has {}", name,
                                 shape_str(array.dims), numel, payload));
  }
  if (payload > numel) {
    throw InputError(fmt::format("{}: {} unexpected bytes after the data of dims {}", name, payload - numel,
                                 shape_str(array.dims)));
  }
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  array.data = std::move(bytes);
  return array;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx(read_file_gunzip(path), path);
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
