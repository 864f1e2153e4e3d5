// The restricted unpickler of torch.save's data.pkl (protocol 2..5, binary opcodes only): a stack machine
// that builds plain values (None, bool, int, float, str, bytes, tuple, list, dict) and knows exactly the
// globals a state dict needs. It calls nothing: any other global is refused before anything else happens, and
// so are the opcodes that build arbitrary objects (INST, OBJ, NEWOBJ, ...). Tensors appear as persistent ids
// ('storage', torch.FloatStorage, key, location, numel) rebuilt by _rebuild_tensor_v2: what comes out is a
// list of named views of storages, whose bytes the caller reads (src/io/pth.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/raw_dtype.h"
#include "resnet/tensor.h"

namespace resnet {

// A larger data.pkl is refused; a state dict's pickle is kilobytes (resnet152: ~60 KB).
inline constexpr uint64_t kMaxPickleBytes = 16ull << 20;

// A storage of the archive: data/<key>, `numel` elements of `raw` (numel >= 0, not yet checked against the
// entry).
struct PickledStorage {
  RawDType raw;
  std::string key;
  int64_t numel;
};

// A tensor: a strided view of one storage, as _rebuild_tensor_v2 describes it (size and stride of equal rank,
// not yet checked against the storage).
struct PickledTensor {
  std::string name;  // its key in the state dict
  size_t storage;    // index into PickledStateDict::storages
  int64_t offset;    // in elements
  Shape size;
  Shape stride;  // in elements
};

struct PickledStateDict {
  std::vector<PickledStorage> storages;  // every storage the pickle names, in order
  std::vector<PickledTensor> tensors;    // the state dict's entries, in its order
};

// Runs `pickle` (data.pkl of `path`) and returns the state dict it describes: the top-level dict, or its
// "state_dict" / "model" entry when that is a dict. Throws InputError "<path>: ..." for anything else (a
// refused global or opcode, a malformed pickle, a value that is not a tensor).
PickledStateDict unpickle_state_dict(std::span<const std::byte> pickle, const std::string& path);

}  // namespace resnet
