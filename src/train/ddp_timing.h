// RESNET_DDP_TIMING's view of the gradient all-reduce across the ranks (scripts/bench_distributed.sh,
// docs/BENCHMARKS.md "Distributed training"): each rank's step times (GradientAllReduce::step_times()) are
// gathered, and rank 0 prints where the all-reduce time went. Steps after the run's first (which warms up).
#pragma once

#include <string>
#include <vector>

#include "core/communicator.h"
#include "train/gradient_allreduce.h"

namespace resnet {

struct DdpTimingSummary {
  std::vector<double> waited;    // per rank: seconds finish() waited per step (mean)
  std::vector<double> backward;  // per rank: seconds from start_step() to finish() per step (mean)
  // Per rank: seconds per step in the reduction of the step's loss after forward (the trainer's timer): its
  // wait for the ranks still loading or in forward.
  std::vector<double> forward_sync;
  double skew_mean = 0.0;  // seconds between the first and the last rank ending backward, mean of steps
  double skew_max = 0.0;   // and the largest of the steps
  // Per step, what the rank that ended backward last waited (mean): the all-reduce time nothing hid,
  // without the other ranks' wait for that rank (the skew).
  double last_rank_waited = 0.0;
  std::vector<int64_t> last;  // per rank: the steps it ended backward last in
  // Per rank: what the run's first step waited (left out above: its oneDNN primitives are created, at a
  // different pace on each rank).
  std::vector<double> first_step_waited;
  struct Bucket {
    double megabytes = 0.0;
    double started = 0.0;     // seconds after backward began (mean of ranks and steps)
    double start_cost = 0.0;  // seconds its copy and the start of its sum took
    double completed = 0.0;   // seconds after backward ended that it was first seen complete (< 0: before)
    double progress_calls = 0.0;  // progress() calls while it ran, per step
  };
  std::vector<Bucket> buckets;  // in the order they are listed (reverse registration order)
};

// Collective (every rank calls it); the steps after the first. Times of one machine's steady clock: the
// skew is meaningful when the ranks share a machine.
DdpTimingSummary summarise_ddp_timing(Communicator& comm, const GradientAllReduce& allreduce,
                                      double forward_sync);

// The lines rank 0 prints after the "ddp timing:" line.
std::vector<std::string> ddp_timing_lines(const DdpTimingSummary& summary);

}  // namespace resnet
