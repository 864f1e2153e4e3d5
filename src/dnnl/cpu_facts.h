// What the CPU this process runs on is, as far as kernel choice cares: /proc/cpuinfo's vendor, model name
// and flags, and the instruction set oneDNN dispatches to (dnnl::get_effective_cpu_isa, which
// ONEDNN_MAX_CPU_ISA can lower). Used to warn where bf16 is slower than f32 (bf16_speed.h) and to key the
// plan's tuning cache.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace resnet::onednn {

struct CpuFacts {
  std::string vendor;           // "GenuineIntel", "AuthenticAMD", or "" when unknown
  std::string model_name;       // "AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"
  std::set<std::string> flags;  // "avx512f", "avx512_bf16", "amx_bf16", ...
  std::string onednn_isa;       // "avx512_core_bf16", "avx512_core_amx", "avx2", ...

  bool has(std::string_view flag) const { return flags.count(std::string(flag)) > 0; }
};

// The first processor's vendor_id, model name and flags of a /proc/cpuinfo text (missing fields: empty).
CpuFacts parse_cpuinfo(std::string_view cpuinfo);
// The oneDNN ISA's name ("avx512_core_bf16").
std::string onednn_isa_name();
// This machine's facts: /proc/cpuinfo (empty fields when it cannot be read) and oneDNN's ISA. Read once.
const CpuFacts& this_cpu();

}  // namespace resnet::onednn
