#include "train/broadcast_state.h"

#include <cstring>
#include <vector>

namespace resnet {
namespace {

// A flat byte record: per tensor its name, dtype, shape and data, all prefixed by their sizes.
void put(std::vector<std::byte>& out, const void* data, size_t bytes) {
  const auto* p = static_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + bytes);
}
void put_i64(std::vector<std::byte>& out, int64_t v) {
  put(out, &v, sizeof v);
}

struct Reader {
  const std::vector<std::byte>& in;
  size_t at = 0;
  void get(void* data, size_t bytes) {
    std::memcpy(data, in.data() + at, bytes);
    at += bytes;
  }
  int64_t get_i64() {
    int64_t v = 0;
    get(&v, sizeof v);
    return v;
  }
};

std::vector<std::byte> serialize(const StateDict& state) {
  std::vector<std::byte> out;
  put_i64(out, int64_t(state.size()));
  for (const NamedTensor& t : state) {
    put_i64(out, int64_t(t.name.size()));
    put(out, t.name.data(), t.name.size());
    put_i64(out, int64_t(t.tensor.dtype()));
    put_i64(out, t.tensor.rank());
    for (int64_t d : t.tensor.shape()) put_i64(out, d);
    put(out, t.tensor.data(), t.tensor.nbytes());
  }
  return out;
}

StateDict deserialize(const std::vector<std::byte>& in) {
  Reader r{in};
  StateDict state(size_t(r.get_i64()));
  for (NamedTensor& t : state) {
    t.name.resize(size_t(r.get_i64()));
    r.get(t.name.data(), t.name.size());
    const auto dtype = static_cast<DType>(r.get_i64());
    Shape shape(size_t(r.get_i64()));
    for (int64_t& d : shape) d = r.get_i64();
    t.tensor = Tensor(shape, dtype);
    r.get(t.tensor.data(), t.tensor.nbytes());
  }
  return state;
}

}  // namespace

void broadcast_tensors(Communicator& comm, const StateDict& tensors, int root) {
  for (const NamedTensor& t : tensors) {
    Tensor view = t.tensor;  // shares the model's storage
    comm.broadcast(view.data(), int64_t(view.nbytes()), root);
  }
}

StateDict broadcast_state_dict(Communicator& comm, const StateDict& state, int root) {
  std::vector<std::byte> bytes = comm.rank() == root ? serialize(state) : std::vector<std::byte>();
  int64_t size = int64_t(bytes.size());
  comm.broadcast(&size, sizeof size, root);
  bytes.resize(size_t(size));
  comm.broadcast(bytes.data(), size, root);
  return comm.rank() == root ? state : deserialize(bytes);
}

}  // namespace resnet
