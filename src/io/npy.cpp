// NumPy .npy (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   "\x93NUMPY" major minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), header, raw data.
// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, padded
// with spaces and a final '\n' so that the data starts at a multiple of 64 bytes.
#include "resnet/npy.h"

#include <fmt/format.h>

#include <cctype>
#include <map>
#include <optional>
#include <vector>

#include "io/atomic_file.h"
#include "io/input_file.h"
#include "io/raw_dtype.h"
#include "resnet/error.h"

namespace resnet {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlignment = 64;  // numpy's ARRAY_ALIGN

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// Reads exactly the dict literal numpy writes (string keys; string, bool or int-tuple values); nothing else.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  NpyHeader parse() {
    std::map<std::string, Value> fields;
    expect('{');
    while (!accept('}')) {
      std::string key = parse_string();
      expect(':');
      fields[key] = parse_value();
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    const Value& descr = required(fields, "descr");
    const Value& fortran_order = required(fields, "fortran_order");
    const Value& shape = required(fields, "shape");
    if (!descr.text) fail("'descr' is not a string");
    if (!fortran_order.flag) fail("'fortran_order' is not True or False");
    if (!shape.dims) fail("'shape' is not a tuple of non-negative integers");
    return NpyHeader{*descr.text, *fortran_order.flag, *shape.dims};
  }

 private:
  struct Value {
    std::optional<std::string> text;
    std::optional<bool> flag;
    std::optional<Shape> dims;
  };

  [[noreturn]] void fail(std::string_view what) const {
    throw InputError(fmt::format("{}: npy header: {} (header: {})", path_, what, text_.substr(0, 200)));
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(fmt::format("expected '{}' at offset {}", c, pos_));
  }
  bool accept_word(std::string_view word) {
    skip_space();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::string parse_string() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      fail(fmt::format("expected a quoted string at offset {}", pos_));
    const char quote = text_[pos_++];
    const size_t close = text_.find(quote, pos_);
    if (close == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_, close - pos_));
    pos_ = close + 1;
    return s;
  }
  int64_t parse_dim() {
    skip_space();
    int64_t value = 0;
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const int digit = text_[pos_++] - '0';
      if (value > (INT64_MAX - digit) / 10) fail("a dimension is too large");
      value = value * 10 + digit;
    }
    if (pos_ == start) fail(fmt::format("expected a non-negative integer at offset {}", start));
    return value;
  }
  Value parse_value() {
    skip_space();
    Value v;
    if (accept_word("True")) {
      v.flag = true;
    } else if (accept_word("False")) {
      v.flag = false;
    } else if (accept('(')) {
      v.dims = Shape{};
      while (!accept(')')) {
        v.dims->push_back(parse_dim());
        if (!accept(',')) {
          expect(')');
          break;
        }
      }
    } else {
      v.text = parse_string();
    }
    return v;
  }
  const Value& required(const std::map<std::string, Value>& fields, const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) fail(fmt::format("no '{}' key", key));
    return it->second;
  }

  const std::string& path_;
  std::string_view text_;
  size_t pos_ = 0;
};

RawDType parse_descr(const std::string& path, const std::string& descr) {
  if (descr == "<f4") return RawDType::f32;
  if (descr == "<f8") return RawDType::f64;
  if (descr == ">f4" || descr == ">f8")
    throw InputError(
        fmt::format("{}: npy: big-endian data ('{}') is not supported; expected '<f4'", path, descr));
  throw InputError(
      fmt::format("{}: npy: unsupported dtype '{}' (expected float32 '<f4' or float64 '<f8')", path, descr));
}

std::string header_text(const Shape& shape) {
  std::string dims;
  for (int64_t d : shape) dims += fmt::format("{}, ", d);
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (2, 3) but (5,) and ()
  if (shape.size() == 1) dims.pop_back();
  return fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}", dims);
}

}  // namespace

Tensor load_npy(const std::string& path) {
  InputFile file(path);
  if (file.head(kMagic.size()) != kMagic)
    throw InputError(fmt::format("{}: not a .npy file (no \\x93NUMPY magic)", path));
  if (file.size() < 10) throw InputError(fmt::format("{}: npy: truncated before the header length", path));
  unsigned char version[2];
  file.read(6, version, 2);
  if (version[0] < 1 || version[0] > 3)
    throw InputError(fmt::format("{}: npy: unsupported format version {}.{}", path, version[0], version[1]));
  const uint64_t length_size = version[0] == 1 ? 2 : 4;
  unsigned char length_bytes[4] = {};
  file.read(8, length_bytes, length_size);
  uint64_t header_size = 0;
  for (uint64_t i = length_size; i-- > 0;) header_size = (header_size << 8) | length_bytes[i];
  const uint64_t header_start = 8 + length_size;
  if (header_size > file.size() - header_start)
    throw InputError(fmt::format("{}: npy: header length {} is larger than the rest of the file ({} bytes)",
                                 path, header_size, file.size() - header_start));

  const std::string text = file.read_string(header_start, header_size);
  const NpyHeader header = HeaderParser(path, text).parse();
  const RawDType raw = parse_descr(path, header.descr);
  if (header.fortran_order)
    throw InputError(
        fmt::format("{}: npy: Fortran-order arrays are not supported; save a C-order array", path));

  uint64_t numel = 1;
  for (int64_t d : header.shape) {
    if (d != 0 && numel > static_cast<uint64_t>(INT64_MAX) / raw_dtype_size(raw) / static_cast<uint64_t>(d))
      throw InputError(fmt::format("{}: npy: shape {} is too large", path, shape_str(header.shape)));
    numel *= static_cast<uint64_t>(d);
  }
  const uint64_t data_start = header_start + header_size;
  const uint64_t need = numel * raw_dtype_size(raw);
  if (file.size() - data_start != need)
    throw InputError(fmt::format("{}: npy: the data has {} bytes, but shape {} of '{}' needs {}", path,
                                 file.size() - data_start, shape_str(header.shape), header.descr, need));
  if (decodes_as_copy(raw)) {
    Tensor t(header.shape);
    file.read(data_start, t.data(), need);
    return t;
  }
  std::vector<std::byte> bytes(need);
  file.read(data_start, bytes.data(), need);
  return decode_raw(raw, header.shape, bytes.data());
}

void save_npy(const Tensor& tensor, const std::string& path) {
  if (tensor.dtype() != DType::f32)
    throw InputError(
        fmt::format("{}: npy: only f32 tensors are saved, got {}", path, dtype_name(tensor.dtype())));
  std::string header = header_text(tensor.shape());
  const size_t unpadded = kMagic.size() + 4 + header.size() + 1;  // magic, version, u16 length, header, '\n'
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header.push_back('\n');
  if (header.size() > 0xffff)
    throw InputError(fmt::format("{}: npy: shape {} is too long", path, shape_str(tensor.shape())));

  std::string preamble(kMagic);
  preamble += '\x01';
  preamble += '\x00';
  preamble += static_cast<char>(header.size() & 0xff);
  preamble += static_cast<char>(header.size() >> 8);
  AtomicFile file(path);
  file.write(preamble);
  file.write(header);
  file.write(tensor.data(), tensor.nbytes());
  file.commit();
}

}  // namespace resnet
