// safetensors (https://github.com/huggingface/safetensors): [u64 LE header length N][N bytes JSON
// header][data]. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" {string: string}. The reference
// writer pads the header with spaces to a multiple of 8 bytes. Like the reference reader, we require the
// tensors to tile the data section exactly: no overlaps, no gaps, no trailing bytes.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "io/atomic_file.h"
#include "io/input_file.h"
#include "io/json_input.h"
#include "io/raw_dtype.h"
#include "resnet/error.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

using Json =
    nlohmann::ordered_json;  // keeps the header's order: ties between empty tensors stay in file order

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr const char* kMetadataKey = "__metadata__";

struct FileDType {
  std::string_view name;  // as the header spells it
  RawDType raw;
};
constexpr FileDType kFileDTypes[] = {
    {"F32", RawDType::f32}, {"BF16", RawDType::bf16},   {"I8", RawDType::i8},   {"U8", RawDType::u8},
    {"I64", RawDType::i64}, {"F64", RawDType::f64},     {"F16", RawDType::f16}, {"I32", RawDType::i32},
    {"I16", RawDType::i16}, {"BOOL", RawDType::boolean}};

std::string_view file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::bf16:
      return "BF16";
    case DType::s8:
      return "I8";
    case DType::u8:
      return "U8";
    case DType::i64:
      return "I64";
  }
  throw InternalError("safetensors: unknown dtype");
}

struct Entry {
  std::string name;
  RawDType raw;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

// Every header problem reads "<file>: safetensors header: <what>".
[[noreturn]] void header_error(const std::string& path, std::string_view what) {
  throw InputError(fmt::format("{}: safetensors header: {}", path, what));
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON number that is a non-negative integer (not 1.5, not -1, not 1e30).
bool as_count(const Json& value, uint64_t& out) {
  if (!value.is_number_unsigned()) return false;
  out = value.get<uint64_t>();
  return true;
}

const FileDType& parse_dtype(const std::string& path, const std::string& name, const Json& info) {
  auto it = info.find("dtype");
  if (it == info.end()) header_error(path, fmt::format("'{}' has no \"dtype\"", name));
  if (!it->is_string()) header_error(path, fmt::format("'{}': \"dtype\" is not a string", name));
  const std::string dtype = it->get<std::string>();
  for (const FileDType& d : kFileDTypes) {
    if (d.name == dtype) return d;
  }
  header_error(
      path, fmt::format("'{}': unsupported dtype '{}' (supported: F32 BF16 F16 F64 I8 U8 I16 I32 I64 BOOL)",
                        name, excerpt(dtype)));
}

Shape parse_shape(const std::string& path, const std::string& name, const Json& info) {
  auto it = info.find("shape");
  if (it == info.end()) header_error(path, fmt::format("'{}' has no \"shape\"", name));
  if (!it->is_array()) header_error(path, fmt::format("'{}': \"shape\" is not an array", name));
  Shape shape;
  uint64_t numel = 1;
  for (const Json& d : *it) {
    uint64_t dim = 0;
    if (!as_count(d, dim))
      header_error(path, fmt::format("'{}': shape {} has a dimension that is not a non-negative integer",
                                     name, json_excerpt(*it)));
    if (dim > static_cast<uint64_t>(INT64_MAX) ||
        (dim != 0 && numel > static_cast<uint64_t>(INT64_MAX) / dim))
      header_error(path, fmt::format("'{}': shape {} is too large", name, json_excerpt(*it)));
    numel *= dim;
    shape.push_back(static_cast<int64_t>(dim));
  }
  return shape;
}

// `name` is the tensor's full name; messages quote it cut short (excerpt), as every value they quote.
Entry parse_entry(const std::string& path, const std::string& full_name, const Json& info,
                  uint64_t data_size) {
  const std::string name = excerpt(full_name);
  if (!info.is_object())
    header_error(path, fmt::format("'{}' is not an object with dtype, shape and data_offsets", name));
  const FileDType& dtype = parse_dtype(path, name, info);
  Entry e{full_name, dtype.raw, parse_shape(path, name, info)};
  auto it = info.find("data_offsets");
  if (it == info.end()) header_error(path, fmt::format("'{}' has no \"data_offsets\"", name));
  if (!it->is_array() || it->size() != 2 || !as_count((*it)[0], e.begin) || !as_count((*it)[1], e.end))
    header_error(path, fmt::format("'{}': data_offsets {} is not [begin, end] with non-negative integers",
                                   name, json_excerpt(*it)));
  if (e.begin > e.end)
    header_error(path, fmt::format("'{}': data_offsets {} end before they begin", name, json_excerpt(*it)));
  if (e.end > data_size)
    header_error(
        path,
        fmt::format("'{}': data_offsets {} go beyond the end of the file (the data section has {} bytes)",
                    name, json_excerpt(*it), data_size));
  // numel * element size cannot overflow: numel <= INT64_MAX, and it is compared in 128 bits.
  const unsigned __int128 need = static_cast<unsigned __int128>(shape_numel(e.shape)) * raw_dtype_size(e.raw);
  if (need != e.end - e.begin)
    header_error(
        path, fmt::format("'{}': data_offsets {} span {} bytes, but {} {} needs {}", name, json_excerpt(*it),
                          e.end - e.begin, dtype.name, shape_str(e.shape), static_cast<uint64_t>(need)));
  return e;
}

void check_metadata(const std::string& path, const Json& metadata) {
  if (!metadata.is_object()) header_error(path, "\"__metadata__\" is not an object");
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string())
      header_error(path, fmt::format("\"__metadata__\" entry '{}' is not a string", excerpt(key)));
  }
}

// The tensors, sorted by data offset, must cover [0, data_size) exactly.
void check_tiling(const std::string& path, const std::vector<Entry>& entries, uint64_t data_size) {
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < expected)
      header_error(path, fmt::format("'{}' (data_offsets [{},{}]) overlaps '{}' (data_offsets [{},{}])",
                                     excerpt(e.name), e.begin, e.end, excerpt(previous->name),
                                     previous->begin, previous->end));
    if (e.begin > expected)
      header_error(path, fmt::format("bytes {}..{} of the data section belong to no tensor (before '{}')",
                                     expected, e.begin, excerpt(e.name)));
    expected = e.end;
    previous = &e;
  }
  if (expected != data_size)
    header_error(path, fmt::format("the data section has {} bytes, but the tensors end at byte {}", data_size,
                                   expected));
}

Json parse_header(const InputFile& file, uint64_t& data_start) {
  const std::string& path = file.path();
  if (file.size() < 8)
    throw InputError(fmt::format(
        "{}: not a safetensors file: {} bytes, shorter than the 8-byte header length", path, file.size()));
  unsigned char length_bytes[8];
  file.read(0, length_bytes, 8);
  const uint64_t header_size = read_u64_le(length_bytes);
  if (header_size > file.size() - 8)
    throw InputError(
        fmt::format("{}: safetensors header length {} is larger than the rest of the file ({} bytes): "
                    "truncated or not a safetensors file",
                    path, header_size, file.size() - 8));
  if (header_size > kMaxHeaderBytes)
    header_error(path, fmt::format("length {} exceeds the limit of {} bytes", header_size, kMaxHeaderBytes));
  data_start = 8 + header_size;
  const Json header = parse_json<Json>(file.read_string(8, header_size), path + ": safetensors header");
  if (!header.is_object()) header_error(path, "not a JSON object");
  return header;
}

}  // namespace

StateDict load_safetensors(const std::string& path) {
  InputFile file(path);
  uint64_t data_start = 0;
  const Json header = parse_header(file, data_start);
  const uint64_t data_size = file.size() - data_start;

  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == kMetadataKey) {
      check_metadata(path, info);
      continue;
    }
    entries.push_back(parse_entry(path, name, info, data_size));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  check_tiling(path, entries, data_size);

  StateDict out;
  out.reserve(entries.size());
  std::vector<std::byte> buffer;
  for (Entry& e : entries) {
    const uint64_t size = e.end - e.begin;
    Tensor t;
    if (decodes_as_copy(e.raw)) {
      t = Tensor(std::move(e.shape),
                 decoded_dtype(e.raw));  // stored as computed: read straight into the tensor
      file.read(data_start + e.begin, t.data(), size);
    } else {
      buffer.resize(size);
      file.read(data_start + e.begin, buffer.data(), size);
      t = decode_raw(e.raw, std::move(e.shape), buffer.data());
    }
    out.push_back({std::move(e.name), std::move(t)});
  }
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  InputFile file(path);
  uint64_t data_start = 0;
  const Json header = parse_header(file, data_start);
  std::map<std::string, std::string> out;
  if (header.contains(kMetadataKey)) {
    check_metadata(path, header[kMetadataKey]);
    for (const auto& [key, value] : header[kMetadataKey].items()) out[key] = value.get<std::string>();
  }
  return out;
}

void save_safetensors(const StateDict& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    if (nt.name == kMetadataKey || !names.insert(nt.name).second)
      throw InputError(fmt::format("{}: cannot save two tensors named '{}'", path, nt.name));
    if (nt.tensor.nbytes() > 0 && nt.tensor.data() == nullptr)
      throw InternalError(fmt::format("{}: tensor '{}' has no storage", path, nt.name));
    const uint64_t end = offset + nt.tensor.nbytes();
    header[nt.name] = {{"dtype", file_dtype_name(nt.tensor.dtype())},
                       {"shape", nt.tensor.shape()},
                       {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the reference writer aligns the data section to 8 bytes

  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(uint64_t{text.size()} >> (8 * i));
  AtomicFile file(path);
  file.write(length_bytes, sizeof length_bytes);
  file.write(text);
  for (const NamedTensor& nt : tensors) file.write(nt.tensor.data(), nt.tensor.nbytes());
  file.commit();
}

}  // namespace resnet
