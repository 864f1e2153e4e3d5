#include "infer/onednn/conv_tuner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <dnnl.hpp>
#include <limits>

#include "dnnl/cpu_facts.h"

namespace resnet::infer {
namespace {

constexpr int kMinTimedRuns = 2;
constexpr int kMaxTimedRuns = 3;
constexpr double kTimeBudgetMs = 100.0;  // per candidate, after its warm-up and first two timed runs
constexpr double kDropFactor = 3.0;      // two timed runs slower than this x the best: not timed further

double run_ms(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// The fastest of 2-3 runs after a warm-up (the fastest: on a loaded machine a run is only ever slowed
// down); 2 when those are hopeless against `best` or took the budget.
double time_candidate(const std::function<void()>& run, double best) {
  run();  // warm-up: first-touch page faults, oneDNN's lazy setup
  double fastest = std::numeric_limits<double>::infinity(), spent = 0.0;
  for (int i = 0; i < kMaxTimedRuns; ++i) {
    if (i >= kMinTimedRuns && (spent > kTimeBudgetMs || fastest > kDropFactor * best)) break;
    const double ms = run_ms(run);
    fastest = std::min(fastest, ms);
    spent += ms;
  }
  return fastest;
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
  std::string best_name;
  double best = std::numeric_limits<double>::infinity();
  std::string timed;
  for (const ConvCandidate& c : candidates) {
    if (c.admissible && !c.admissible()) {
      timed += fmt::format("{}{} (other results)", timed.empty() ? "" : ", ", c.name);
      continue;
    }
    const double ms = time_candidate(c.prepare(), best);  // the buffers live for this candidate only
    ++timings_;
    timed += fmt::format("{}{} {:.2f} ms", timed.empty() ? "" : ", ", c.name, ms);
    if (ms < best) {
      best = ms;
      best_name = c.name;
    }
  }
  cache_.record(machine_, key, best_name, best);
  choices_.push_back(fmt::format("{}: {} (timed: {})", step, best_name, timed));
  return best_name;
}

}  // namespace resnet::infer
