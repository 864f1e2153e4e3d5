// DDP's gradient averaging over MPI: the parameters are cut into buckets of ~25 MB in reverse registration
// order (roughly the order backward produces their gradients; the last bucket, of the first layers, ~1 MB);
// while backward runs, each layer reports its gradients final (Module::set_gradients_observer) and a bucket
// whose every gradient is final starts its non-blocking all-reduce, so communication overlaps the rest of
// backward. finish() waits for all of them. The gradients live in their bucket's flat f32 buffer (as DDP's
// gradient views): a parameter's first gradient is copied in once and its .grad becomes a slice of the
// buffer, so backward accumulates into the buffer and the sums land in the gradients, no copy either way. The
// loss gradient was scaled by this rank's share of the global batch, so the sums are the gradients of the
// global batch's mean loss.
#pragma once

#include <chrono>
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

  // What RESNET_DDP_TIMING reports (src/train/ddp_timing.h), per step of this rank. Times in seconds of
  // std::chrono::steady_clock (one clock for every process of a machine).
  struct StepTimes {
    double backward_began = 0.0;  // start_step()
    double backward_ended = 0.0;  // finish() called
    double waited = 0.0;          // in finish(), for the sums (the all-reduce time backward did not hide)
    std::vector<double> started, completed;  // per bucket: its copy and sum began / sum first seen complete
    std::vector<double> start_cost;          // per bucket: seconds the copy and the sum's start took
    std::vector<int64_t> progress_calls;     // per bucket: progress() calls while its sum was running
  };
  // Every step's times from now on (RESNET_DDP_TIMING); otherwise only the last step's are kept.
  void keep_step_times() { keep_step_times_ = true; }
  const std::vector<StepTimes>& step_times() const { return step_times_; }
  std::vector<int64_t> bucket_bytes() const;  // of the gradients in each bucket (the buffers add alignment)
  // Seconds spent waiting in finish(), summed over steps.
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
    std::vector<int64_t> offsets;    // of each parameter's gradient in the buffer (64-byte aligned)
    Tensor buffer;                   // [n] f32: the gradients, concatenated (zeros between them)
    int64_t gradient_floats = 0;     // of the parameters, without the alignment
    int64_t pending = 0;             // gradients not final yet in this step
    bool started = false;
    bool completed = false;
    int64_t sum = 0;  // the communicator's number of its sum in this step
  };

  void on_gradients_ready(Module& layer);
  void start(Bucket& bucket);
  static void bind_gradients(Bucket& bucket);  // each existing .grad into the buffer, as a slice of it
  void note_completed();  // after progress(): the time each running sum is first seen complete

  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const Parameter*, size_t> bucket_of_;
  std::vector<StepTimes> step_times_;
  bool keep_step_times_ = false;
  double exposed_seconds_ = 0.0;
  int64_t steps_ = 0;
};

}  // namespace resnet
