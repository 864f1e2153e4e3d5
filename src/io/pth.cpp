// torch.save files (PyTorch >= 1.6): a zip archive holding
//   <folder>/data.pkl     the pickled state dict (src/io/restricted_unpickler.h): named views of storages
//   <folder>/data/<key>   each storage's raw little-endian bytes
//   <folder>/version, <folder>/byteorder (newer PyTorch)
// The folder is named after the file torch.save wrote ("archive", "resnet18-f37072fd", ...), so data.pkl is
// found by name suffix. Every view is checked against its storage, and the storage against its zip entry,
// before a byte is inflated; then each storage is inflated only as far as its views reach.
#include "io/pth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <unordered_map>
#include <vector>

#include "io/input_file.h"
#include "io/raw_dtype.h"
#include "io/restricted_unpickler.h"
#include "resnet/error.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

// What a view needs of its storage: `numel` elements, the last one at element `last` (when numel > 0).
struct ViewExtent {
  int64_t numel = 1;
  int64_t last = 0;
};

// One storage as the views use it: its zip entry, how many bytes of it they reach, how many views are left.
struct StorageUse {
  uint64_t index = 0;
  uint64_t needed_bytes = 0;
  int uses = 0;
};

class TensorMaterializer {
 public:
  TensorMaterializer(const std::string& path, const ZipArchive& zip, std::string folder,
                     const PickledStateDict& pickled)
      : path_(path), zip_(zip), folder_(std::move(folder)), pickled_(pickled) {}

  // Checks every view against its storage, every storage against its entry and the total against the cap;
  // reads no storage.
  void plan() {
    unsigned __int128 materialised = 0, stored = 0;
    for (const PickledTensor& t : pickled_.tensors) {
      const PickledStorage& s = pickled_.storages[t.storage];
      const ViewExtent extent = check_view(t, s);
      auto [it, first_use] = uses_.try_emplace(s.key);
      if (first_use) {
        it->second.index = check_storage(s);
        stored += static_cast<unsigned __int128>(s.numel) * raw_dtype_size(s.raw);
      }
      if (extent.numel > 0 && extent.last >= s.numel)
        fail(t.name, fmt::format("the view (offset {}, size {}, stride {}) reaches element {} of storage "
                                 "'{}data/{}', which has {}",
                                 t.offset, shape_str(t.size), shape_str(t.stride), extent.last, folder_,
                                 s.key, s.numel));
      const uint64_t es = raw_dtype_size(s.raw);
      if (extent.numel > 0)
        it->second.needed_bytes =
            std::max(it->second.needed_bytes, static_cast<uint64_t>(extent.last + 1) * es);
      ++it->second.uses;
      materialised += static_cast<unsigned __int128>(extent.numel) * es;
    }
    if (materialised > 2 * stored + kMaxRepeatedBytes)
      throw InputError(fmt::format(
          "{}: its tensors would materialise {} bytes from {} bytes of storages, more than the limit "
          "(twice the storages' bytes + {})",
          path_, static_cast<uint64_t>(materialised), static_cast<uint64_t>(stored), kMaxRepeatedBytes));
  }

  Tensor materialize(const PickledTensor& t) {
    const PickledStorage& s = pickled_.storages[t.storage];
    const int64_t numel = shape_numel(t.size);
    if (numel == 0) {
      release(s.key);
      return Tensor(t.size, decoded_dtype(s.raw));
    }
    Tensor out = gather(s.raw, t, numel, storage_bytes(s).data());
    release(s.key);
    return out;
  }

 private:
  // Size, offset and strides of the view; a stride-0 view may grow past its storage only so far.
  ViewExtent check_view(const PickledTensor& t, const PickledStorage& s) const {
    ViewExtent e{1, t.offset};
    for (int64_t d : t.size) {
      if (d < 0 || __builtin_mul_overflow(e.numel, d, &e.numel))
        fail(t.name, fmt::format("invalid size {}", shape_str(t.size)));
    }
    if (t.offset < 0) fail(t.name, fmt::format("negative storage offset {}", t.offset));
    // The last element the view touches: offset + sum((size - 1) * stride).
    for (size_t i = 0; i < t.size.size() && e.numel > 0; ++i) {
      int64_t step = 0;
      if (t.stride[i] < 0 || __builtin_mul_overflow(t.size[i] - 1, t.stride[i], &step) ||
          __builtin_add_overflow(e.last, step, &e.last))
        fail(t.name, fmt::format("invalid stride {} for size {}", shape_str(t.stride), shape_str(t.size)));
    }
    const auto limit = static_cast<int64_t>(kMaxRepeatedBytes / raw_dtype_size(s.raw));
    if (e.numel > s.numel && e.numel > limit)
      fail(t.name,
           fmt::format(
               "the view of size {} repeats storage '{}data/{}' ({} elements) beyond the {} byte limit",
               shape_str(t.size), folder_, s.key, s.numel, kMaxRepeatedBytes));
    return e;
  }

  // The storage's zip entry exists and holds its declared elements (from the entry's header: nothing read).
  uint64_t check_storage(const PickledStorage& s) const {
    const std::string entry = folder_ + "data/" + s.key;
    const auto index = zip_.find(entry);
    if (!index) throw InputError(fmt::format("{}: storage '{}' is missing from the archive", path_, entry));
    const uint64_t size = zip_.size_of(*index, entry);
    const size_t es = raw_dtype_size(s.raw);
    if (static_cast<uint64_t>(s.numel) > size / es)
      throw InputError(fmt::format("{}: storage '{}' has {} bytes, but its {} {} elements need {}", path_,
                                   entry, size, s.numel, raw_dtype_name(s.raw),
                                   static_cast<unsigned __int128>(s.numel) * es));
    return *index;
  }

  // Contiguous views are decoded in place; others are first copied element by element into row-major order.
  static Tensor gather(RawDType raw, const PickledTensor& t, int64_t numel, const std::byte* storage) {
    const size_t es = raw_dtype_size(raw);
    const std::byte* base = storage + static_cast<size_t>(t.offset) * es;
    bool contiguous = true;
    int64_t expected = 1;
    for (size_t i = t.size.size(); i-- > 0;) {
      if (t.size[i] != 1 && t.stride[i] != expected) contiguous = false;
      expected *= t.size[i];
    }
    if (contiguous) return decode_raw(raw, t.size, base);

    const size_t rank = t.size.size();
    std::vector<std::byte> dense(static_cast<size_t>(numel) * es);
    std::vector<int64_t> index(rank, 0);
    int64_t src = 0;  // element offset from base
    for (int64_t i = 0; i < numel; ++i) {
      std::memcpy(dense.data() + static_cast<size_t>(i) * es, base + static_cast<size_t>(src) * es, es);
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < t.size[d]) {
          src += t.stride[d];
          break;
        }
        src -= (t.size[d] - 1) * t.stride[d];
        index[d] = 0;
      }
    }
    return decode_raw(raw, t.size, dense.data());
  }

  // The bytes of the storage its views reach, inflated on first use and kept until its last view.
  const std::vector<std::byte>& storage_bytes(const PickledStorage& s) {
    auto it = cache_.find(s.key);
    if (it == cache_.end()) {
      const StorageUse& use = uses_.at(s.key);
      it = cache_.emplace(s.key, zip_.read_prefix(use.index, folder_ + "data/" + s.key, use.needed_bytes))
               .first;
    }
    return it->second;
  }

  [[noreturn]] void fail(const std::string& name, std::string_view what) const {
    throw InputError(fmt::format("{}: '{}': {}", path_, name, what));
  }

  void release(const std::string& key) {
    if (--uses_.at(key).uses == 0) cache_.erase(key);
  }

  const std::string& path_;
  const ZipArchive& zip_;
  std::string folder_;
  const PickledStateDict& pickled_;
  std::unordered_map<std::string, StorageUse> uses_;
  std::unordered_map<std::string, std::vector<std::byte>> cache_;  // storages still needed by later tensors
};

void check_is_zip(const InputFile& file) {
  const std::string head = file.head(4);
  if (head.starts_with("PK")) return;
  if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80)
    throw InputError(
        fmt::format("{}: legacy (non-zip) torch.save format is not supported; load it in PyTorch and "
                    "save it again with torch.save (PyTorch >= 1.6 writes the zip format)",
                    file.path()));
  throw InputError(fmt::format("{}: not a torch .pth file (not a zip archive)", file.path()));
}

void check_byte_order(const ZipArchive& zip, const std::string& folder, const std::string& path) {
  const std::string entry = folder + "byteorder";
  auto index = zip.find(entry);
  if (!index) return;  // files before PyTorch 2.1 have none and are little-endian
  auto bytes = zip.read(*index, entry, 16);
  const std::string order(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (order != "little")
    throw InputError(fmt::format("{}: byte order '{}' is not supported (only little-endian)", path, order));
}

}  // namespace

StateDict load_pth_archive(const ZipArchive& zip, const std::string& path) {
  const auto folder = zip.folder_of("data.pkl");
  if (!folder)
    throw InputError(fmt::format("{}: no data.pkl in the zip archive; not a torch.save file", path));
  check_byte_order(zip, *folder, path);
  const std::string pickle_name = *folder + "data.pkl";
  const std::vector<std::byte> pickle = zip.read(*zip.find(pickle_name), pickle_name, kMaxPickleBytes);
  const PickledStateDict pickled = unpickle_state_dict(pickle, path);

  TensorMaterializer materializer(path, zip, *folder, pickled);
  materializer.plan();
  StateDict out;
  out.reserve(pickled.tensors.size());
  for (const PickledTensor& t : pickled.tensors) out.push_back({t.name, materializer.materialize(t)});
  return out;
}

StateDict load_pth(const std::string& path) {
  InputFile file(path);
  check_is_zip(file);
  const ZipArchive zip(path, file.size());
  return load_pth_archive(zip, path);
}

}  // namespace resnet
