// Per-machine tuning of the plan's convolutions (PlanOptions::tune): among the kernels that compute a
// convolution correctly — oneDNN's implementations for the layouts at hand (primitive_desc::next_impl, the
// reference ones left out) and our Winograd F(4x4, 3x3) where it applies — take the fastest, timed here on
// zero-filled buffers (speed does not depend on the values: no denormals), and remember the choice in the
// tuning cache (tuning_cache.h) so that the next plan on this machine times nothing.
//
// The choice is greedy in program order: a convolution is timed with the layouts its producers already chose,
// and its own choice fixes its output's layout for the next one.
//
// Timing: every admissible candidate is warmed up, then timed in interleaved rounds (at least 3, at most 7,
// no new round after 300 ms), one sample per candidate per round, a sample being back-to-back runs of at
// least 1 ms; a candidate's time is its fastest sample per run. The first candidate — the kernel the untuned
// plan runs — is kept unless another is 5% faster. ResNet-50 at batch 32 on 2 cores: ~9 s the first time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dnnl/kernel_chooser.h"
#include "infer/tuning_cache.h"

namespace resnet::infer {

// "AMD EPYC 9R14 | avx512_core_bf16 | oneDNN 3.2.0": the CPU model, oneDNN's ISA and version.
std::string tuning_machine_key();

// A candidate kernel (dnnl/kernel_chooser.h): for a convolution of the plan, "winograd" or oneDNN's
// implementation name; admissible (int8: int8_conv_probe.h) asks whether it computes the convolution exactly
// as the untuned kernel does.
using ConvCandidate = onednn::KernelCandidate;

class ConvTuner : public onednn::KernelChooser {
 public:
  // cache: read and written (record) by choose(); the caller saves it.
  explicit ConvTuner(TuningCache& cache);

  // The candidate to use for convolution `key` (step: the module path, for stats): the cached choice when it
  // is among `candidates`, else the one timed now (recorded in the cache): the first (untuned) candidate, or
  // another that is 5% faster. One candidate: itself, untimed.
  std::string choose(const std::string& step, const std::string& key,
                     const std::vector<ConvCandidate>& candidates) override;

  int64_t timings() const { return timings_; }  // candidates timed so far
  int64_t cache_hits() const { return cache_hits_; }
  // "layer1.0.conv1: winograd" per convolution chosen, in order; " (cached)" when read from the cache.
  const std::vector<std::string>& choices() const { return choices_; }

 private:
  TuningCache& cache_;
  std::string machine_;
  int64_t timings_ = 0;
  int64_t cache_hits_ = 0;
  std::vector<std::string> choices_;
};

}  // namespace resnet::infer
