// Where `--dtype bf16` / `--precision bf16` warns that bf16 is slower than f32 (src/dnnl/bf16_speed.h): the
// decision from injected CPU facts (the /proc/cpuinfo text and oneDNN's ISA of the machines of issue 17), not
// from the machine the test runs on.
#include <gtest/gtest.h>

#include <string>

#include "dnnl/bf16_speed.h"
#include "dnnl/cpu_facts.h"

namespace resnet::onednn {
namespace {

CpuFacts facts(const std::string& cpuinfo, const std::string& isa) {
  CpuFacts f = parse_cpuinfo(cpuinfo);
  f.onednn_isa = isa;
  return f;
}

const char* kZen4 =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 avx512vl\n\n"
    "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu\n";
const char* kCooperLake =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"
    "flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n";
const char* kSapphireRapids =
    "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
    "flags\t\t: avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n";
const char* kSkylake =
    "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: avx2 avx512f\n";

TEST(CpuFacts, ParsesTheFirstProcessorsVendorModelAndFlags) {
  const CpuFacts f = parse_cpuinfo(kZen4);
  EXPECT_EQ(f.vendor, "AuthenticAMD");
  EXPECT_EQ(f.model_name, "AMD EPYC 9R14 96-Core Processor");
  EXPECT_TRUE(f.has("avx512_bf16"));
  EXPECT_TRUE(f.has("avx512_vnni"));
  EXPECT_FALSE(f.has("amx_bf16"));
  EXPECT_EQ(f.flags.size(), 7u);  // the second processor's block is not read
  EXPECT_TRUE(parse_cpuinfo("").vendor.empty());
}

TEST(Bf16Speed, AmdZen4WithAvx512Bf16IsNotSlower) {
  EXPECT_FALSE(bf16_slower_than_f32(facts(kZen4, "avx512_core_bf16")).has_value());
}

TEST(Bf16Speed, IntelAvx512Bf16WithoutAmxIsSlowerAndSaysWhy) {
  const auto why = bf16_slower_than_f32(facts(kCooperLake, "avx512_core_bf16"));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("Intel(R) Xeon(R) Platinum 8375C"), std::string::npos) << *why;
  EXPECT_NE(why->find("no AMX"), std::string::npos) << *why;
}

TEST(Bf16Speed, IntelWithAmxIsNotSlowerUnlessOneDnnIsHeldBelowAmx) {
  EXPECT_FALSE(bf16_slower_than_f32(facts(kSapphireRapids, "avx512_core_amx")).has_value());
  // ONEDNN_MAX_CPU_ISA=avx512_core_bf16 on the same CPU: the AMX tiles are not used.
  EXPECT_TRUE(bf16_slower_than_f32(facts(kSapphireRapids, "avx512_core_bf16")).has_value());
}

TEST(Bf16Speed, NoNativeBf16IsSlowerOnEveryVendor) {
  EXPECT_TRUE(bf16_slower_than_f32(facts(kSkylake, "avx512_core")).has_value());
  // Zen 4 with oneDNN held to AVX2: bf16 converted to f32.
  const auto why = bf16_slower_than_f32(facts(kZen4, "avx2"));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("ISA avx2"), std::string::npos) << *why;
}

}  // namespace
}  // namespace resnet::onednn
