#include "train/ddp_timing.h"

#include <fmt/format.h>

#include <algorithm>

namespace resnet {
namespace {

// values[rank * n + i] filled by each rank for its own rank, summed: every rank gets every rank's values.
std::vector<double> gather(Communicator& comm, const std::vector<double>& mine) {
  const size_t n = mine.size();
  std::vector<double> all(n * size_t(comm.size()), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + ptrdiff_t(n * size_t(comm.rank())));
  comm.allreduce_sum(all.data(), int64_t(all.size()));
  return all;
}

}  // namespace

DdpTimingSummary summarise_ddp_timing(Communicator& comm, const GradientAllReduce& allreduce,
                                      double forward_sync) {
  const std::vector<GradientAllReduce::StepTimes>& steps = allreduce.step_times();
  const size_t first = steps.size() > 1 ? 1 : 0, n = steps.size() - first;
  const size_t ranks = size_t(comm.size()), buckets = size_t(allreduce.buckets());
  DdpTimingSummary s;
  if (n == 0) return s;

  // Per step: when backward ended (steady clock) and the wait.
  std::vector<double> mine;
  for (size_t i = first; i < steps.size(); ++i) {
    mine.push_back(steps[i].backward_ended);
    mine.push_back(steps[i].waited);
    mine.push_back(steps[i].backward_ended - steps[i].backward_began);
  }
  const std::vector<double> all = gather(comm, mine);
  s.waited.assign(ranks, 0.0);
  s.backward.assign(ranks, 0.0);
  s.last.assign(ranks, 0);
  for (size_t step = 0; step < n; ++step) {
    size_t last = 0;
    double earliest = 0.0, latest = 0.0;
    for (size_t r = 0; r < ranks; ++r) {
      const double* v = &all[r * mine.size() + 3 * step];
      s.waited[r] += v[1] / double(n);
      s.backward[r] += v[2] / double(n);
      if (r == 0 || v[0] < earliest) earliest = v[0];
      if (r == 0 || v[0] > latest) latest = v[0], last = r;
    }
    s.skew_mean += (latest - earliest) / double(n);
    s.skew_max = std::max(s.skew_max, latest - earliest);
    s.last_rank_waited += all[last * mine.size() + 3 * step + 1] / double(n);
    ++s.last[last];
  }

  s.first_step_waited = gather(comm, {steps.front().waited});
  s.forward_sync = gather(comm, {forward_sync});

  // Per bucket, summed over this rank's steps, then over the ranks.
  std::vector<double> sums(4 * buckets, 0.0);
  for (size_t i = first; i < steps.size(); ++i) {
    const GradientAllReduce::StepTimes& t = steps[i];
    for (size_t b = 0; b < buckets; ++b) {
      sums[4 * b + 0] += t.started[b] - t.backward_began;
      sums[4 * b + 1] += t.start_cost[b];
      sums[4 * b + 2] += t.completed[b] - t.backward_ended;
      sums[4 * b + 3] += double(t.progress_calls[b]);
    }
  }
  comm.allreduce_sum(sums.data(), int64_t(sums.size()));
  const std::vector<int64_t> bytes = allreduce.bucket_bytes();
  const double count = double(n * ranks);
  for (size_t b = 0; b < buckets; ++b) {
    s.buckets.push_back({.megabytes = double(bytes[b]) / 1e6,
                         .started = sums[4 * b + 0] / count,
                         .start_cost = sums[4 * b + 1] / count,
                         .completed = sums[4 * b + 2] / count,
                         .progress_calls = sums[4 * b + 3] / count});
  }
  return s;
}

std::vector<std::string> ddp_timing_lines(const DdpTimingSummary& s) {
  std::vector<std::string> lines;
  std::string ranks = "ddp ranks:";
  for (size_t r = 0; r < s.waited.size(); ++r) {
    ranks += fmt::format(" r{} forward_sync_ms {:.1f} backward_ms {:.1f} waited_ms {:.1f} last_in_steps {}",
                         r, 1e3 * s.forward_sync[r], 1e3 * s.backward[r], 1e3 * s.waited[r], s.last[r]);
  }
  ranks += fmt::format(" | backward_end_skew_ms mean {:.1f} max {:.1f} | last_rank_waited_ms {:.1f}",
                       1e3 * s.skew_mean, 1e3 * s.skew_max, 1e3 * s.last_rank_waited);
  ranks += " | first_step_waited_ms";
  for (double w : s.first_step_waited) ranks += fmt::format(" {:.1f}", 1e3 * w);
  lines.push_back(ranks);
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    const DdpTimingSummary::Bucket& k = s.buckets[b];
    lines.push_back(fmt::format(
        "ddp bucket {}: MB {:.2f} started_ms {:.1f} after backward began, start_cost_ms {:.2f}, completed_ms "
        "{:+.1f} vs backward end, progress_calls {:.1f}",
        b, k.megabytes, 1e3 * k.started, 1e3 * k.start_cost, 1e3 * k.completed, k.progress_calls));
  }
  return lines;
}

}  // namespace resnet
