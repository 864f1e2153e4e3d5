#include "infer/onednn/desc_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <numeric>
#include <string_view>
#include <vector>

#include "dnnl/primitive_cache.h"

namespace resnet::infer {

namespace {

using dnnl::memory;
using dt = memory::data_type;

std::string layout_text(const memory::desc& md) {
  if (md.get_format_kind() != memory::format_kind::blocked) return "opaque";
  const memory::dims strides = md.get_strides();
  const memory::dims blocks = md.get_inner_blks();
  const memory::dims block_dims = md.get_inner_idxs();
  std::vector<int> order(static_cast<size_t>(md.get_ndims()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return strides[a] > strides[b]; });
  std::string out;
  for (int d : order) {
    const bool blocked = std::find(block_dims.begin(), block_dims.end(), d) != block_dims.end();
    const char letter = static_cast<char>('a' + d);
    out += blocked ? static_cast<char>(std::toupper(letter)) : letter;
  }
  for (size_t i = 0; i < blocks.size(); ++i) out += fmt::format("{}{}", blocks[i], char('a' + block_dims[i]));
  return out;
}

std::string_view type_text(dt type) {
  switch (type) {
    case dt::f32:
      return "f32";
    case dt::bf16:
      return "bf16";
    case dt::s8:
      return "s8";
    case dt::u8:
      return "u8";
    default:
      return "?";
  }
}

}  // namespace

std::string desc_text(const memory::desc& md) {
  return fmt::format("{}:{}:{}", onednn::dims_key(md.get_dims()), type_text(md.get_data_type()),
                     layout_text(md));
}

}  // namespace resnet::infer
