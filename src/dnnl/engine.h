// The process-wide oneDNN CPU engine and stream every kernel in src/dnnl/ runs on, and the translation of
// oneDNN failures into resnet errors.
#pragma once

#include <dnnl.hpp>
#include <string_view>
#include <utility>

namespace resnet::onednn {

dnnl::engine& cpu_engine();
// Shared by all callers. On the CPU the stream is synchronous under OpenMP, so sharing it between threads is
// safe.
dnnl::stream& cpu_stream();

// The attributes every primitive of the library is created with: scratchpad owned by the caller (see
// primitive_cache.h), fpmath mode left at oneDNN's default (strict f32 unless ONEDNN_DEFAULT_FPMATH_MODE says
// else).
dnnl::primitive_attr default_attr();

// Throws InternalError("<op>: oneDNN: <message>").
[[noreturn]] void throw_dnnl_error(std::string_view op, const dnnl::error& e);

// Runs body(); a dnnl::error escaping it becomes an InternalError naming the op, so callers outside src/dnnl/
// see only resnet errors.
template <class Body>
auto translate_errors(std::string_view op, Body&& body) -> decltype(body()) {
  try {
    return std::forward<Body>(body)();
  } catch (const dnnl::error& e) {
    throw_dnnl_error(op, e);
  }
}

}  // namespace resnet::onednn
