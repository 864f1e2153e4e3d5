// DDP's gradient averaging over MPI: the parameters are cut into buckets of ~25 MB in reverse registration
// order (roughly the order backward produces their gradients; the last bucket, of the first layers, ~1 MB);
// while backward runs, each layer reports its gradients final (Module::set_gradients_observer) and a bucket
// whose every gradient is final is copied into its flat f32 buffer and its non-blocking all-reduce starts, so
// communication overlaps the rest of backward. finish() waits for all of them and writes the sums back. The
// loss gradient was scaled by this rank's share of the global batch, so the sums are the gradients of the
// global batch's mean loss.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/communicator.h"
#include "resnet/module.h"

namespace resnet {

class GradientAllReduce {
 public:
  static constexpr int64_t kBucketBytes = 25 << 20;
  // The bucket of the first-registered parameters (the stem, layer1) is the last to become ready and nothing
  // of backward is left to hide it: it is kept small (the mirror of DDP's small first bucket).
  static constexpr int64_t kLastBucketBytes = 1 << 20;

  GradientAllReduce(Communicator& comm, std::vector<Parameter*> params, int64_t bucket_bytes = kBucketBytes);
  ~GradientAllReduce();  // removes the gradients observer
  GradientAllReduce(const GradientAllReduce&) = delete;
  GradientAllReduce& operator=(const GradientAllReduce&) = delete;

  // Before a step's backward: no gradient is final yet.
  void start_step();
  // After backward: starts the buckets no layer completed (frozen parameters have no gradient: zeros), waits
  // for every all-reduce and writes the sums into the gradients that exist.
  void finish();

  // Seconds spent waiting in finish() (the all-reduce time backward did not hide), summed over steps.
  double exposed_seconds() const { return exposed_seconds_; }
  int64_t steps() const { return steps_; }
  int64_t buckets() const { return int64_t(buckets_.size()); }
  int64_t bytes() const;  // of one step's gradients
  // Seconds one step's all-reduce takes when nothing hides it: every bucket started, then waited for, the
  // mean of `repeats` rounds (collective: every rank calls it). The benchmarks' reference for the share of
  // the all-reduce that backward hides (1 - exposed per step / this).
  double measure_unhidden(int repeats);

 private:
  struct Bucket {
    std::vector<Parameter*> params;  // reverse registration order
    std::vector<float> buffer;       // the gradients, concatenated
    int64_t pending = 0;             // gradients not final yet in this step
    bool started = false;
  };

  void on_gradients_ready(Module& layer);
  void start(Bucket& bucket);

  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const Parameter*, size_t> bucket_of_;
  double exposed_seconds_ = 0.0;
  int64_t steps_ = 0;
};

}  // namespace resnet
