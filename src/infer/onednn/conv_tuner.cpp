#include "infer/onednn/conv_tuner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <dnnl.hpp>
#include <limits>

#include "dnnl/cpu_facts.h"
#include "resnet/error.h"

namespace resnet::infer {
namespace {

// Kernels are timed against each other in interleaved rounds, each round one sample of every candidate still
// in the race, its order rotated; a candidate's time is its fastest sample (on a loaded machine a run is only
// ever slowed down). A sample is several back-to-back runs when one run is short: a timer tick or one
// preemption is a large share of a 0.1 ms kernel. Timed one after another, 2-3 runs each (format 1-2 of the
// cache), a neighbour's burst decided choices on a shared 2-core machine: resnet50 int8 batch 1 ran 17-26 ms
// tuned against 12-16 ms untuned.
constexpr int kMinRounds = 3;
constexpr int kMaxRounds = 7;
constexpr double kSampleMs = 1.0;  // a sample lasts at least this long (or is kMaxRunsPerSample runs)
constexpr int kMaxRunsPerSample = 64;
constexpr double kRoundsBudgetMs = 300;  // no round after kMinRounds once the rounds took this long
constexpr double kDropFactor = 3.0;      // after two rounds, slower than this x the best: out of the race
// The untuned kernel (the first candidate) is kept unless another is this much faster: kernels within a few
// percent of each other in isolation are not told apart by the timing, and the untuned one is what the rest
// of the plan was measured with.
constexpr double kMargin = 0.05;

double run_ms(const std::function<void()>& run, int times) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < times; ++i) run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

struct Racer {
  size_t candidate = 0;  // index in the candidates
  std::function<void()> run;
  int runs_per_sample = 1;
  double fastest = std::numeric_limits<double>::infinity();  // ms per run
};

// The racers' fastest times after the rounds.
void race(std::vector<Racer>& racers) {
  double best = std::numeric_limits<double>::infinity(), spent = 0.0;
  for (int round = 0; round < kMaxRounds; ++round) {
    if (round >= kMinRounds && spent > kRoundsBudgetMs) break;
    for (size_t k = 0; k < racers.size(); ++k) {
      Racer& r = racers[(k + static_cast<size_t>(round)) % racers.size()];
      if (round >= 2 && r.fastest > kDropFactor * best) continue;
      const double ms = run_ms(r.run, r.runs_per_sample);
      spent += ms;
      r.fastest = std::min(r.fastest, ms / r.runs_per_sample);
      best = std::min(best, r.fastest);
    }
  }
}

}  // namespace

std::string tuning_machine_key() {
  const onednn::CpuFacts& cpu = onednn::this_cpu();
  const dnnl_version_t* v = dnnl::version();
  return fmt::format("{} | {} | oneDNN {}.{}.{}", cpu.model_name.empty() ? "unknown CPU" : cpu.model_name,
                     cpu.onednn_isa, v->major, v->minor, v->patch);
}

ConvTuner::ConvTuner(TuningCache& cache) : cache_(cache), machine_(tuning_machine_key()) {}

std::string ConvTuner::choose(const std::string& step, const std::string& key,
                              const std::vector<ConvCandidate>& candidates) {
  if (candidates.empty()) return "";
  auto named = [&](const std::string& name) {
    return std::any_of(candidates.begin(), candidates.end(), [&](const auto& c) { return c.name == name; });
  };
  if (const auto cached = cache_.lookup(machine_, key); cached && named(*cached)) {
    ++cache_hits_;
    choices_.push_back(fmt::format("{}: {} (cached)", step, *cached));
    return *cached;
  }
  if (candidates.size() == 1) {
    choices_.push_back(fmt::format("{}: {} (the only candidate)", step, candidates.front().name));
    return candidates.front().name;
  }
  // Every admissible candidate prepared (its buffers live until the choice is made) and warmed up:
  // first-touch page faults, oneDNN's lazy setup; the warm-up's time sets how many runs make a sample.
  std::vector<Racer> racers;
  std::vector<bool> admissible(candidates.size(), false);
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ConvCandidate& c = candidates[i];
    if (c.admissible && !c.admissible()) continue;
    admissible[i] = true;
    Racer r{.candidate = i, .run = c.prepare()};
    const double warm_up = run_ms(r.run, 1);
    r.runs_per_sample =
        std::clamp(static_cast<int>(std::ceil(kSampleMs / std::max(warm_up, 1e-3))), 1, kMaxRunsPerSample);
    racers.push_back(std::move(r));
    ++timings_;
  }
  if (racers.empty() || racers.front().candidate != 0) {
    throw InternalError(fmt::format("{}: tuning needs the untuned kernel {} among the admissible candidates",
                                    step, candidates.front().name));
  }
  race(racers);
  // The untuned kernel, unless another is kMargin faster.
  const Racer* chosen = &racers.front();
  for (const Racer& r : racers) {
    if (r.fastest < (1.0 - kMargin) * racers.front().fastest && r.fastest < chosen->fastest) chosen = &r;
  }
  std::string timed;
  size_t next = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    timed += timed.empty() ? "" : ", ";
    if (!admissible[i]) {
      timed += fmt::format("{} (other results)", candidates[i].name);
      continue;
    }
    timed += fmt::format("{} {:.2f} ms", candidates[i].name, racers[next++].fastest);
  }
  const std::string best_name = candidates[chosen->candidate].name;
  const double best = chosen->fastest;
  cache_.record(machine_, key, best_name, best);
  choices_.push_back(fmt::format("{}: {} (timed: {})", step, best_name, timed));
  return best_name;
}

}  // namespace resnet::infer
