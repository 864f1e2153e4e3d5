// What this CPU's cores can multiply-add at most: every thread of the OpenMP team (the threads the kernels
// use: --benchmark_... with OMP_NUM_THREADS) runs chains of independent f32 fused multiply-adds on the widest
// vectors it has (AVX-512, else AVX2). The roofline the convolutions' GFLOP/s are read against: a kernel at
// 200 GFLOP/s on a CPU whose FMA loop reaches 230 is bound by arithmetic, not by its code.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

namespace resnet {
namespace {

constexpr int64_t kSteps = 4'000'000;  // per thread and iteration
constexpr int kChains = 12;            // independent accumulators: enough to cover the FMA latency

// 2 FLOPs x 16 lanes x kChains per step; returns a sum so that nothing is optimized away.
__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t steps) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  // Summed through memory, not _mm512_reduce_add_ps: GCC 12 warns (-Wuninitialized) inside that intrinsic.
  alignas(64) float lanes[16];
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

// 2 FLOPs x 8 lanes x kChains per step.
__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t steps) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

void BM_FmaPeak(benchmark::State& state) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  int threads = 1;
  for (auto _ : state) {
    float sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      threads = omp_get_num_threads();
      sum += avx512 ? fma_chains_avx512(kSteps) : fma_chains_avx2(kSteps);
    }
    benchmark::DoNotOptimize(sum);
  }
  const double flops = 2.0 * lanes * kChains * static_cast<double>(kSteps) * threads;
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
  state.SetLabel(avx512 ? "avx512" : "avx2");
}

BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace resnet
