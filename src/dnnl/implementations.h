// oneDNN's implementations of one primitive, by name (primitive_desc::impl_info_str, e.g. "jit:avx512_core"),
// for timing them against each other (a training kernel chooser: conv.cpp). Names, not positions in
// next_impl() order: with oneDNN's primitive cache holding a primitive, the iteration starts with the cached
// implementation and then lists every implementation again, so the n-th one depends on what was created
// before (oneDNN 3.2).
#pragma once

#include <algorithm>
#include <dnnl.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "resnet/error.h"

namespace resnet::onednn {

// Whether pd is one of oneDNN's reference implementations ("ref:any"): correct, and hundreds of times slower.
inline bool is_reference(const dnnl::primitive_desc_base& pd) {
  return std::string_view(pd.impl_info_str()).starts_with("ref");
}

// The distinct implementation names of pd's primitive, oneDNN's first choice first, the reference ones left
// out. pd: a fresh primitive descriptor (taken by value: iterating moves it).
template <class PrimitiveDesc>
std::vector<std::string> implementation_names(PrimitiveDesc pd) {
  std::vector<std::string> names;
  do {
    const std::string name = pd.impl_info_str();
    if (!is_reference(pd) && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  } while (pd.next_impl());
  return names;
}

// pd moved on to the implementation called `name`; an empty name: pd as it is (oneDNN's first choice).
template <class PrimitiveDesc>
PrimitiveDesc implementation_named(PrimitiveDesc pd, const std::string& name, std::string_view what) {
  while (!name.empty() && pd.impl_info_str() != name) {
    if (!pd.next_impl()) throw InternalError(std::string(what) + ": no oneDNN implementation " + name);
  }
  return pd;
}

}  // namespace resnet::onednn
