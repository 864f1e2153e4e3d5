// What this CPU's cores can multiply-add at most: every thread of the OpenMP team (the threads the kernels
// use: OMP_NUM_THREADS) runs chains of independent AVX-512 f32 fused multiply-adds (skipped on a CPU without
// AVX-512). The roofline the convolutions' GFLOP/s are read against: a kernel's rate over this loop's, in the
// same run, is the share of the arithmetic peak it reaches.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

namespace resnet {
namespace {

constexpr int64_t kSteps = 4'000'000;  // per thread and iteration
constexpr int kChains = 12;            // independent accumulators: enough to cover the FMA latency

// 2 FLOPs x 16 lanes x kChains per step; returns a sum so that nothing is optimized away.
__attribute__((target("avx512f"))) float fma_chains(int64_t steps) {
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

void BM_FmaPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  int threads = 1;
  for (auto _ : state) {
    float sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      threads = omp_get_num_threads();
      sum += fma_chains(kSteps);
    }
    benchmark::DoNotOptimize(sum);
  }
  const double flops = 2.0 * 16 * kChains * static_cast<double>(kSteps) * threads;
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace resnet
