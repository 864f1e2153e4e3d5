#include "dnnl/cpu_facts.h"

#include <fmt/format.h>

#include <dnnl.hpp>
#include <fstream>
#include <sstream>

namespace resnet::onednn {
namespace {

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

}  // namespace

CpuFacts parse_cpuinfo(std::string_view cpuinfo) {
  CpuFacts facts;
  size_t pos = 0;
  while (pos < cpuinfo.size()) {
    const size_t end = std::min(cpuinfo.find('\n', pos), cpuinfo.size());
    const std::string_view line = cpuinfo.substr(pos, end - pos);
    pos = end + 1;
    if (trim(line).empty()) {
      if (!facts.vendor.empty() || !facts.flags.empty()) break;  // the first processor's block ended
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (key == "vendor_id") {
      facts.vendor = value;
    } else if (key == "model name") {
      facts.model_name = value;
    } else if (key == "flags") {
      std::istringstream words{std::string(value)};
      for (std::string flag; words >> flag;) facts.flags.insert(flag);
    }
  }
  return facts;
}

std::string onednn_isa_name() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::sse41:
      return "sse41";
    case isa::avx:
      return "avx";
    case isa::avx2:
      return "avx2";
    case isa::avx2_vnni:
      return "avx2_vnni";
    case isa::avx2_vnni_2:
      return "avx2_vnni_2";
    case isa::avx512_core:
      return "avx512_core";
    case isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case isa::avx512_core_fp16:
      return "avx512_core_fp16";
    case isa::avx512_core_amx:
      return "avx512_core_amx";
    case isa::avx512_core_amx_fp16:
      return "avx512_core_amx_fp16";
    case isa::isa_default:
      return "default";
    default:  // an ISA of a newer oneDNN (3.13 adds avx10_2, ...): by its value
      break;
  }
  return fmt::format("isa_{:#x}", static_cast<unsigned>(dnnl::get_effective_cpu_isa()));
}

const CpuFacts& this_cpu() {
  static const CpuFacts facts = [] {
    std::ifstream in("/proc/cpuinfo");
    std::ostringstream text;
    text << in.rdbuf();
    CpuFacts f = parse_cpuinfo(text.str());
    f.onednn_isa = onednn_isa_name();
    return f;
  }();
  return facts;
}

}  // namespace resnet::onednn
