#include "dnnl/bf16_speed.h"

#include <fmt/format.h>

namespace resnet::onednn {
namespace {

// oneDNN ISAs with native bf16 dot products (vdpbf16ps) and with AMX tiles.
bool isa_has_bf16(const std::string& isa) {
  return isa == "avx512_core_bf16" || isa == "avx512_core_fp16" || isa == "avx512_core_amx" ||
         isa == "avx512_core_amx_fp16";
}
bool isa_has_amx(const std::string& isa) {
  return isa == "avx512_core_amx" || isa == "avx512_core_amx_fp16";
}

}  // namespace

std::optional<std::string> bf16_slower_than_f32(const CpuFacts& cpu) {
  const std::string name = cpu.model_name.empty() ? std::string("this CPU") : cpu.model_name;
  if (cpu.has("amx_bf16") && isa_has_amx(cpu.onednn_isa)) return std::nullopt;
  if (!cpu.has("avx512_bf16") || !isa_has_bf16(cpu.onednn_isa)) {
    return fmt::format("{} has no native bf16 arithmetic for oneDNN (ISA {}): bf16 is converted to f32", name,
                       cpu.onednn_isa);
  }
  if (cpu.vendor == "GenuineIntel") {
    return fmt::format("{} has AVX512-BF16 but no AMX (oneDNN ISA {}: jit_bf16 kernels, about half of f32)",
                       name, cpu.onednn_isa);
  }
  return std::nullopt;  // AMD Zen 4+ (brgconv, ~1.8x f32) and vendors not measured
}

}  // namespace resnet::onednn
