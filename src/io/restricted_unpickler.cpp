#include "io/restricted_unpickler.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "resnet/error.h"

namespace resnet {
namespace {

// Bounds that no state dict comes near and that keep a hostile pickle from exhausting memory.
constexpr size_t kMaxValues = size_t{1} << 22;
constexpr size_t kMaxRank = 64;

enum class Kind : uint8_t {
  none,
  boolean,
  integer,
  floating,
  string,
  bytes,
  tuple,
  list,
  dict,
  global,
  storage,
  tensor
};

std::string_view kind_name(Kind kind) {
  constexpr std::array<std::string_view, 12> names = {"None",  "bool", "int",  "float",  "str",     "bytes",
                                                      "tuple", "list", "dict", "global", "storage", "tensor"};
  return names[static_cast<size_t>(kind)];
}

// "an int", "a list": for messages.
std::string a_kind(Kind kind) {
  const std::string_view name = kind_name(kind);
  return fmt::format("{} {}", std::string_view("aeiou").find(name[0]) != std::string_view::npos ? "an" : "a",
                     name);
}

// What a global may be. Everything else is refused at the GLOBAL opcode.
enum class GlobalRole : uint8_t {
  ordered_dict,
  rebuild_tensor,
  rebuild_parameter,
  rebuild_parameter_with_state,
  storage_type
};

struct AllowedGlobal {
  std::string_view name;  // "module.qualname"
  GlobalRole role;
  RawDType raw = RawDType::f32;  // storage_type only
};
constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections.OrderedDict", GlobalRole::ordered_dict},
    {"torch._utils._rebuild_tensor_v2", GlobalRole::rebuild_tensor},
    {"torch._utils._rebuild_parameter", GlobalRole::rebuild_parameter},
    {"torch._utils._rebuild_parameter_with_state", GlobalRole::rebuild_parameter_with_state},
    {"torch.FloatStorage", GlobalRole::storage_type, RawDType::f32},
    {"torch.DoubleStorage", GlobalRole::storage_type, RawDType::f64},
    {"torch.HalfStorage", GlobalRole::storage_type, RawDType::f16},
    {"torch.BFloat16Storage", GlobalRole::storage_type, RawDType::bf16},
    {"torch.LongStorage", GlobalRole::storage_type, RawDType::i64},
    {"torch.IntStorage", GlobalRole::storage_type, RawDType::i32},
    {"torch.ShortStorage", GlobalRole::storage_type, RawDType::i16},
    {"torch.CharStorage", GlobalRole::storage_type, RawDType::i8},
    {"torch.ByteStorage", GlobalRole::storage_type, RawDType::u8},
    {"torch.BoolStorage", GlobalRole::storage_type, RawDType::boolean},
};

struct Value {
  Kind kind = Kind::none;
  int64_t number = 0;           // bool, int; global: index into kAllowedGlobals; storage, tensor: their index
  double floating = 0;          // float
  std::string text;             // str, bytes
  std::vector<uint32_t> items;  // tuple, list; dict: key0, value0, key1, value1, ... (insertion order)
};

Value number_value(Kind kind, int64_t number) {
  Value v;
  v.kind = kind;
  v.number = number;
  return v;
}
Value text_value(Kind kind, std::string text) {
  Value v;
  v.kind = kind;
  v.text = std::move(text);
  return v;
}

// Pickle opcodes (Python's Lib/pickle.py), binary protocols only.
namespace op {
constexpr uint8_t MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BINFLOAT = 'G', BININT = 'J',
                  BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T',
                  SHORT_BINSTRING = 'U', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c',
                  DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l',
                  EMPTY_LIST = ']', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't',
                  EMPTY_TUPLE = ')', SETITEMS = 'u', PROTO = 0x80, TUPLE1 = 0x85, TUPLE2 = 0x86,
                  TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, BINBYTES = 'B',
                  SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e,
                  STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95;
}  // namespace op
class Unpickler {
 public:
  Unpickler(const std::string& path, std::span<const std::byte> bytes) : path_(path), bytes_(bytes) {}

  // Runs data.pkl to its STOP and returns the id of the resulting value.
  uint32_t run();

  const Value& value(uint32_t id) const { return values_[id]; }
  const std::vector<PickledStorage>& storages() const { return storages_; }
  const PickledTensor& tensor(size_t index) const { return tensors_[index]; }
  [[noreturn]] void fail(std::string_view what) const {
    throw InputError(fmt::format("{}: data.pkl: {} (at byte {})", path_, what, opcode_at_));
  }

 private:
  // Input.
  std::span<const std::byte> take(uint64_t count) {
    if (count > bytes_.size() - pos_)
      fail(fmt::format("truncated: opcode 0x{:02x} needs {} more bytes, {} left", opcode_, count,
                       bytes_.size() - pos_));
    auto out = bytes_.subspan(pos_, count);
    pos_ += count;
    return out;
  }
  uint64_t read_uint(int count) {
    auto b = take(static_cast<uint64_t>(count));
    uint64_t v = 0;
    for (int i = count - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  std::string read_text(uint64_t count) {
    auto b = take(count);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::string read_line() {
    const auto* begin = reinterpret_cast<const char*>(bytes_.data()) + pos_;
    const auto* end = static_cast<const char*>(std::memchr(begin, '\n', bytes_.size() - pos_));
    if (end == nullptr) fail(fmt::format("truncated: opcode 0x{:02x} has no end of line", opcode_));
    pos_ += static_cast<size_t>(end - begin) + 1;
    return std::string(begin, end);
  }

  // The stack.
  uint32_t make(Value v) {
    if (values_.size() >= kMaxValues) fail(fmt::format("more than {} objects; not a state dict", kMaxValues));
    values_.push_back(std::move(v));
    return static_cast<uint32_t>(values_.size() - 1);
  }
  void push(uint32_t id) { stack_.push_back(id); }
  // Like Python's unpickler, items below the innermost MARK are out of reach until the mark is popped.
  bool reachable_empty() const { return stack_.size() <= (marks_.empty() ? 0 : marks_.back()); }
  void push_new(Value v) { push(make(std::move(v))); }
  void push_sequence(Kind kind, std::vector<uint32_t> items) {
    Value v;
    v.kind = kind;
    v.items = std::move(items);
    push_new(std::move(v));
  }
  uint32_t pop() {
    if (reachable_empty()) fail(fmt::format("opcode 0x{:02x} pops an empty stack", opcode_));
    uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  std::vector<uint32_t> pop_n(size_t n) {
    std::vector<uint32_t> items(n);
    for (size_t i = n; i-- > 0;) items[i] = pop();
    return items;
  }
  std::vector<uint32_t> pop_to_mark() {
    if (marks_.empty()) fail(fmt::format("opcode 0x{:02x} without a MARK", opcode_));
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Value& top_of_kind(Kind kind) {
    if (reachable_empty()) fail(fmt::format("opcode 0x{:02x} needs {} on the stack", opcode_, a_kind(kind)));
    Value& v = values_[stack_.back()];
    if (v.kind != kind)
      fail(fmt::format("opcode 0x{:02x} needs {}, found {}", opcode_, a_kind(kind), a_kind(v.kind)));
    return v;
  }
  void set_items(std::vector<uint32_t> pairs) {
    if (pairs.size() % 2 != 0) fail("SETITEMS with an odd number of items");
    Value& dict = top_of_kind(Kind::dict);
    dict.items.insert(dict.items.end(), pairs.begin(), pairs.end());
  }
  void append_items(const std::vector<uint32_t>& items) {
    Value& list = top_of_kind(Kind::list);
    list.items.insert(list.items.end(), items.begin(), items.end());
  }

  void push_int(int64_t v) { push_new(number_value(Kind::integer, v)); }
  void push_long(uint64_t count);
  void push_global(const std::string& module, const std::string& name);
  void memo_put(uint64_t index);
  void memo_get(uint64_t index);
  void persistent_load();
  void reduce();
  void build();
  bool step();  // one opcode; false after STOP

  // Helpers for checking arguments of the allowed callables.
  const Value& arg(const Value& args, size_t i, Kind kind, std::string_view callable) const {
    const Value& v = values_[args.items[i]];
    if (v.kind != kind)
      fail(fmt::format("{}: argument {} is {}, expected {}", callable, i, a_kind(v.kind), a_kind(kind)));
    return v;
  }
  Shape int_tuple(const Value& args, size_t i, std::string_view callable) const {
    const Value& t = arg(args, i, Kind::tuple, callable);
    if (t.items.size() > kMaxRank) fail(fmt::format("{}: {} dimensions", callable, t.items.size()));
    Shape out;
    for (uint32_t id : t.items) {
      if (values_[id].kind != Kind::integer)
        fail(fmt::format("{}: argument {} is not a tuple of ints", callable, i));
      out.push_back(values_[id].number);
    }
    return out;
  }

  const std::string& path_;
  std::span<const std::byte> bytes_;
  size_t pos_ = 0;
  size_t opcode_at_ = 0;
  uint8_t opcode_ = 0;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<PickledStorage> storages_;
  std::vector<PickledTensor> tensors_;
  uint32_t result_ = 0;
};

uint32_t Unpickler::run() {
  if (bytes_.empty()) fail("empty");
  while (step()) {
  }
  return result_;
}

void Unpickler::push_long(uint64_t count) {
  if (count > 8) fail(fmt::format("a {}-byte integer does not fit 64 bits", count));
  auto b = take(count);
  uint64_t v = 0;
  for (size_t i = count; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(b[i]);
  if (count > 0 && count < 8 && (static_cast<uint8_t>(b[count - 1]) & 0x80))
    v |= ~uint64_t{0} << (8 * count);  // sign-extend two's complement
  push_int(static_cast<int64_t>(v));
}

void Unpickler::push_global(const std::string& module, const std::string& name) {
  const std::string qualified = module + "." + name;
  for (size_t i = 0; i < std::size(kAllowedGlobals); ++i) {
    if (kAllowedGlobals[i].name == qualified) {
      push_new(number_value(Kind::global, static_cast<int64_t>(i)));
      return;
    }
  }
  throw InputError(fmt::format("{}: refuses to load global '{}' (only state-dict contents are allowed)",
                               path_, qualified.substr(0, 200)));
}

void Unpickler::memo_put(uint64_t index) {
  if (reachable_empty()) fail("memoizes an empty stack");
  memo_[index] = stack_.back();
}

void Unpickler::memo_get(uint64_t index) {
  auto it = memo_.find(index);
  if (it == memo_.end()) fail(fmt::format("memo index {} was never stored", index));
  push(it->second);
}

// ('storage', torch.FloatStorage, key, location, numel) -> a storage reference; the bytes are read later.
void Unpickler::persistent_load() {
  const Value& pid = values_[pop()];
  constexpr std::string_view what = "persistent id";
  if (pid.kind != Kind::tuple || pid.items.size() != 5)
    fail("persistent id is not ('storage', storage_type, key, location, numel)");
  if (arg(pid, 0, Kind::string, what).text != "storage")
    fail(fmt::format("persistent id of type '{}' (only 'storage')",
                     values_[pid.items[0]].text.substr(0, 100)));
  const AllowedGlobal& type = kAllowedGlobals[arg(pid, 1, Kind::global, what).number];
  if (type.role != GlobalRole::storage_type) fail(fmt::format("'{}' is not a storage type", type.name));
  const std::string& key = arg(pid, 2, Kind::string, what).text;
  arg(pid, 3, Kind::string, what);  // location: "cpu", "cuda:0"; the bytes are the same
  const int64_t numel = arg(pid, 4, Kind::integer, what).number;
  if (numel < 0) fail(fmt::format("storage '{}' has {} elements", key, numel));
  storages_.push_back({type.raw, key, numel});
  push_new(number_value(Kind::storage, static_cast<int64_t>(storages_.size() - 1)));
}

void Unpickler::reduce() {
  const uint32_t args_id = pop();
  const Value& callable = values_[pop()];
  if (callable.kind != Kind::global) fail(fmt::format("REDUCE calls {}", a_kind(callable.kind)));
  const AllowedGlobal& global = kAllowedGlobals[callable.number];
  const Value& args = values_[args_id];
  if (args.kind != Kind::tuple)
    fail(fmt::format("{}: arguments are {}, not a tuple", global.name, a_kind(args.kind)));
  const size_t n = args.items.size();
  auto expect_args = [&](size_t lo, size_t hi) {
    if (n < lo || n > hi) fail(fmt::format("{} with {} arguments", global.name, n));
  };
  switch (global.role) {
    case GlobalRole::ordered_dict:
      expect_args(0, 0);
      push_sequence(Kind::dict, {});
      return;
    case GlobalRole::rebuild_tensor: {  // (storage, storage_offset, size, stride, requires_grad, hooks[,
                                        // metadata])
      expect_args(6, 7);
      PickledTensor t{{},
                      static_cast<size_t>(arg(args, 0, Kind::storage, global.name).number),
                      arg(args, 1, Kind::integer, global.name).number,
                      int_tuple(args, 2, global.name),
                      int_tuple(args, 3, global.name)};
      if (t.size.size() != t.stride.size())
        fail(fmt::format("{}: size {} and stride {} differ in rank", global.name, shape_str(t.size),
                         shape_str(t.stride)));
      tensors_.push_back(std::move(t));
      push_new(number_value(Kind::tensor, static_cast<int64_t>(tensors_.size() - 1)));
      return;
    }
    case GlobalRole::rebuild_parameter:             // (data, requires_grad, hooks): the parameter is its data
    case GlobalRole::rebuild_parameter_with_state:  // (data, requires_grad, hooks, state)
      expect_args(global.role == GlobalRole::rebuild_parameter ? 3 : 4,
                  global.role == GlobalRole::rebuild_parameter ? 3 : 4);
      arg(args, 0, Kind::tensor, global.name);
      push(args.items[0]);
      return;
    case GlobalRole::storage_type:
      fail(fmt::format("'{}' cannot be called", global.name));
  }
}

// BUILD sets an object's attributes; on a state dict that is its _metadata (module versions), which we
// ignore.
void Unpickler::build() {
  pop();  // the state
  if (reachable_empty()) fail("BUILD on an empty stack");
  const Kind kind = values_[stack_.back()].kind;
  if (kind != Kind::dict && kind != Kind::tensor) fail(fmt::format("BUILD on {}", a_kind(kind)));
}

bool Unpickler::step() {
  opcode_at_ = pos_;
  opcode_ = static_cast<uint8_t>(take(1)[0]);
  switch (opcode_) {
    case op::PROTO:
      if (read_uint(1) > 5) fail("unsupported pickle protocol");
      break;
    case op::FRAME:
      read_uint(8);
      break;
    case op::STOP:
      result_ = pop();
      return false;
    case op::MARK:
      marks_.push_back(stack_.size());
      break;
    case op::POP:
      pop();
      break;
    case op::POP_MARK:
      pop_to_mark();
      break;
    case op::DUP: {
      const uint32_t id = pop();
      push(id);
      push(id);
      break;
    }
    case op::NONE:
      push_new(number_value(Kind::none, 0));
      break;
    case op::NEWTRUE:
    case op::NEWFALSE:
      push_new(number_value(Kind::boolean, opcode_ == op::NEWTRUE));
      break;
    case op::BININT:
      push_int(static_cast<int32_t>(read_uint(4)));
      break;
    case op::BININT1:
      push_int(static_cast<int64_t>(read_uint(1)));
      break;
    case op::BININT2:
      push_int(static_cast<int64_t>(read_uint(2)));
      break;
    case op::LONG1:
      push_long(read_uint(1));
      break;
    case op::LONG4:
      push_long(read_uint(4));
      break;
    case op::BINFLOAT: {
      auto b = take(8);
      uint64_t bits = 0;
      for (std::byte x : b) bits = (bits << 8) | static_cast<uint8_t>(x);  // big-endian
      Value v;
      v.kind = Kind::floating;
      std::memcpy(&v.floating, &bits, sizeof bits);
      push_new(std::move(v));
      break;
    }
    case op::SHORT_BINUNICODE:
    case op::SHORT_BINSTRING:
      push_new(text_value(Kind::string, read_text(read_uint(1))));
      break;
    case op::BINUNICODE:
    case op::BINSTRING:
      push_new(text_value(Kind::string, read_text(read_uint(4))));
      break;
    case op::BINUNICODE8:
      push_new(text_value(Kind::string, read_text(read_uint(8))));
      break;
    case op::SHORT_BINBYTES:
      push_new(text_value(Kind::bytes, read_text(read_uint(1))));
      break;
    case op::BINBYTES:
      push_new(text_value(Kind::bytes, read_text(read_uint(4))));
      break;
    case op::BINBYTES8:
      push_new(text_value(Kind::bytes, read_text(read_uint(8))));
      break;
    case op::EMPTY_TUPLE:
      push_sequence(Kind::tuple, {});
      break;
    case op::TUPLE1:
    case op::TUPLE2:
    case op::TUPLE3:
      push_sequence(Kind::tuple, pop_n(opcode_ - op::TUPLE1 + 1));
      break;
    case op::TUPLE:
      push_sequence(Kind::tuple, pop_to_mark());
      break;
    case op::EMPTY_LIST:
      push_sequence(Kind::list, {});
      break;
    case op::LIST:
      push_sequence(Kind::list, pop_to_mark());
      break;
    case op::EMPTY_DICT:
      push_sequence(Kind::dict, {});
      break;
    case op::DICT: {
      auto items = pop_to_mark();
      if (items.size() % 2 != 0) fail("DICT with an odd number of items");
      push_sequence(Kind::dict, std::move(items));
      break;
    }
    case op::APPEND:
      append_items({pop()});
      break;
    case op::APPENDS:
      append_items(pop_to_mark());
      break;
    case op::SETITEM:
      set_items(pop_n(2));
      break;
    case op::SETITEMS:
      set_items(pop_to_mark());
      break;
    case op::GLOBAL: {
      std::string module = read_line();
      push_global(module, read_line());
      break;
    }
    case op::STACK_GLOBAL: {
      const Value& name = values_[pop()];
      const Value& module = values_[pop()];
      if (name.kind != Kind::string || module.kind != Kind::string) fail("STACK_GLOBAL needs two strings");
      push_global(module.text, name.text);
      break;
    }
    case op::BINPUT:
      memo_put(read_uint(1));
      break;
    case op::LONG_BINPUT:
      memo_put(read_uint(4));
      break;
    case op::MEMOIZE:
      memo_put(memo_.size());
      break;
    case op::BINGET:
      memo_get(read_uint(1));
      break;
    case op::LONG_BINGET:
      memo_get(read_uint(4));
      break;
    case op::BINPERSID:
      persistent_load();
      break;
    case op::REDUCE:
      reduce();
      break;
    case op::BUILD:
      build();
      break;
    default:
      fail(fmt::format("unsupported pickle opcode 0x{:02x} (only state-dict contents are allowed)", opcode_));
  }
  if (pos_ >= bytes_.size()) fail("ends without STOP");
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// From the unpickled value to the state dict.

// The dict's (key, value) pairs with Python's semantics: a repeated key keeps its first position, last value.
std::vector<std::pair<std::string, uint32_t>> dict_entries(const Unpickler& u, const Value& dict,
                                                           const std::string& path) {
  std::vector<std::pair<std::string, uint32_t>> out;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < dict.items.size(); i += 2) {
    const Value& key = u.value(dict.items[i]);
    if (key.kind != Kind::string)
      throw InputError(fmt::format("{}: a state dict key is {}, not a str", path, a_kind(key.kind)));
    auto [it, inserted] = position.emplace(key.text, out.size());
    if (inserted) {
      out.emplace_back(key.text, dict.items[i + 1]);
    } else {
      out[it->second].second = dict.items[i + 1];
    }
  }
  return out;
}

// The top level itself, or its "state_dict" or "model" entry when that is a dict (training checkpoints).
const Value& select_state_dict(const Unpickler& u, uint32_t root_id, const std::string& path) {
  const Value& root = u.value(root_id);
  if (root.kind != Kind::dict)
    throw InputError(
        fmt::format("{}: holds {}, not a state dict (a dict of tensors)", path, a_kind(root.kind)));
  const auto entries = dict_entries(u, root, path);
  for (std::string_view wrapper : {"state_dict", "model"}) {
    for (const auto& [key, id] : entries) {
      if (key == wrapper && u.value(id).kind == Kind::dict) return u.value(id);
    }
  }
  return root;
}

}  // namespace

PickledStateDict unpickle_state_dict(std::span<const std::byte> pickle, const std::string& path) {
  Unpickler unpickler(path, pickle);
  const uint32_t root = unpickler.run();
  const Value& state = select_state_dict(unpickler, root, path);
  PickledStateDict out;
  out.storages = unpickler.storages();
  for (const auto& [name, id] : dict_entries(unpickler, state, path)) {
    const Value& v = unpickler.value(id);
    if (v.kind != Kind::tensor)
      throw InputError(
          fmt::format("{}: '{}' is {}, not a tensor; expected a state dict", path, name, a_kind(v.kind)));
    out.tensors.push_back(unpickler.tensor(static_cast<size_t>(v.number)));
    out.tensors.back().name = name;
  }
  return out;
}

}  // namespace resnet
