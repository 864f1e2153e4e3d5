// Whether bf16 convolutions are expected slower than f32 ones on a CPU, decided from its facts (cpu_facts.h),
// not measured: a probe would cost seconds at every start and be at the mercy of the machine's load, while
// the cases are few and known (issue 17, measured with oneDNN 3.2, resnet50 batch 32, 2 threads):
//   - AMX-BF16 (Intel Sapphire Rapids and later), oneDNN ISA avx512_core_amx: bf16 tiles, faster than f32.
//   - AVX512-BF16 on AMD (Zen 4 and later): oneDNN's brgconv runs bf16 ~1.8x f32.
//   - AVX512-BF16 on Intel without AMX (Cooper Lake, Xeon 3rd gen): oneDNN picks jit_bf16 kernels, 21 vs 44
//     img/s — about half of f32.
//   - no AVX512-BF16 in oneDNN's ISA (plain AVX-512, AVX2): bf16 is converted to f32 around f32 arithmetic
//     (or runs oneDNN's reference code), slower than f32.
// Other vendors with AVX512-BF16 and no AMX: unknown, no warning.
#pragma once

#include <optional>
#include <string>

#include "dnnl/cpu_facts.h"

namespace resnet::onednn {

// nullopt when bf16 is expected at least as fast as f32 on `cpu`; else why it is slower, as a clause:
// "Intel Xeon ... has AVX512-BF16 but no AMX (oneDNN avx512_core_bf16: jit_bf16 kernels)".
std::optional<std::string> bf16_slower_than_f32(const CpuFacts& cpu);

}  // namespace resnet::onednn
