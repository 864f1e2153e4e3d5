// The loaders' threading: worker threads build the batches of one epoch ahead of the consumer, at most
// `capacity` batches beyond the one it waits for, and hand them over in order. What a batch is and how it is
// built is the caller's (Loader: classification, SegmentationLoader: images + masks); batch b must be a
// function of b alone, so the result does not depend on which worker builds it.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {

// splitmix64's finaliser: a bijective mix, so distinct inputs give well-spread, distinct seeds.
inline uint64_t mix_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The loaders' seeds: of an epoch, of one sample's augmentation in it, of the epoch's shuffle.
inline uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return mix_seed(mix_seed(seed) ^ uint64_t(epoch));
}
inline uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return mix_seed(epoch_seed(seed, epoch) ^ uint64_t(index));
}
inline uint64_t shuffle_seed(uint64_t seed, int64_t epoch) {
  return mix_seed(epoch_seed(seed, epoch) ^ ~uint64_t(0));
}

// 0..n-1, in the order an epoch visits them: shuffled (Fisher-Yates, seeded by shuffle_seed) or not.
inline std::vector<int64_t> epoch_sample_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  if (!shuffle) return order;
  Rng rng(shuffle_seed(seed, epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

template <class B>
class BatchPipeline {
 public:
  using Build = std::function<B(int64_t)>;

  BatchPipeline() = default;
  ~BatchPipeline() { stop(); }
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // Abandons any running epoch, then starts min(threads, num_batches) workers on batches [0, num_batches).
  // threads = 0: next() builds each batch on the caller's thread.
  void start(int64_t num_batches, int threads, int64_t capacity, Build build) {
    stop();
    num_batches_ = num_batches;
    capacity_ = capacity;
    build_ = std::move(build);
    next_claim_ = 0;
    next_consume_ = 0;
    const int64_t count = std::min<int64_t>(threads, num_batches);
    for (int64_t t = 0; t < count; ++t) workers_.emplace_back([this] { work(); });
  }

  // The next batch in order; false when the epoch is over. Rethrows the error a worker hit building it.
  bool next(B& batch) {
    if (next_consume_ >= num_batches_) return false;
    if (workers_.empty()) {
      batch = build_(next_consume_++);
      return true;
    }
    Slot slot;
    {
      std::unique_lock lock(mutex_);
      ready_cv_.wait(lock, [&] { return ready_.count(next_consume_) != 0; });
      auto it = ready_.find(next_consume_);
      slot = std::move(it->second);
      ready_.erase(it);
      ++next_consume_;
    }
    space_cv_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    batch = std::move(slot.batch);
    return true;
  }

  // Joins the workers and drops the batches built but not taken.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_cv_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    ready_.clear();
    stopping_ = false;
  }

 private:
  struct Slot {
    B batch;
    std::exception_ptr error;
  };

  void work() {
    for (;;) {
      int64_t b = 0;
      {
        std::unique_lock lock(mutex_);
        space_cv_.wait(lock, [&] {
          return stopping_ || next_claim_ >= num_batches_ || next_claim_ < next_consume_ + capacity_;
        });
        if (stopping_ || next_claim_ >= num_batches_) return;
        b = next_claim_++;
      }
      Slot slot;
      try {
        slot.batch = build_(b);
      } catch (...) {
        slot.error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        ready_.emplace(b, std::move(slot));
      }
      ready_cv_.notify_all();
    }
  }

  int64_t num_batches_ = 0;
  int64_t capacity_ = 1;
  Build build_;
  std::mutex mutex_;
  std::condition_variable ready_cv_;  // a batch was added to `ready_`
  std::condition_variable space_cv_;  // the consumer took a batch, or the workers must stop
  std::map<int64_t, Slot> ready_;
  int64_t next_claim_ = 0;
  int64_t next_consume_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// What both loaders keep around their pipeline: the checked options, the sizes of an epoch, the current
// epoch and its sample order. A loader's Impl derives from it and adds its dataset, its transform and
// build_batch(b) (samples order[b*B, min((b+1)*B, num_samples))). The loader's destructor stops `pipeline`
// itself: the workers read the Impl's own members, which are gone before this base is destroyed.
template <class B>
struct EpochBatches {
  LoaderOptions options;
  int64_t num_samples = 0;
  int64_t num_batches = 0;
  int64_t capacity = 0;  // batches claimed by workers beyond the consumer's next one

  // The current epoch. `epoch` and `order` change only while no worker runs.
  int64_t epoch = -1;
  std::vector<int64_t> order;
  BatchPipeline<B> pipeline;

  // Checks `o` (InputError) and sizes the epochs over a dataset of `dataset_size` samples.
  void configure(int64_t dataset_size, const LoaderOptions& o) {
    if (o.batch_size <= 0) throw InputError(fmt::format("batch size must be positive, got {}", o.batch_size));
    if (o.threads < 0) throw InputError(fmt::format("loader threads must be >= 0, got {}", o.threads));
    if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards) {
      throw InputError(fmt::format("loader shard {} of {}: expected 0 <= shard < shards", o.shard, o.shards));
    }
    num_samples = o.subset > 0 ? std::min(o.subset, dataset_size) : dataset_size;
    num_batches = o.drop_last ? num_samples / o.batch_size : (num_samples + o.batch_size - 1) / o.batch_size;
    capacity = std::max<int64_t>({o.prefetch, o.threads, 1});
    options = o;
  }

  // Batch b's positions [begin, end) in `order`: order[b*B, min((b+1)*B, num_samples)), or this shard's
  // contiguous part of it (LoaderOptions::shard).
  std::pair<int64_t, int64_t> batch_range(int64_t b) const {
    const int64_t begin = b * options.batch_size;
    const int64_t len = std::min(begin + options.batch_size, num_samples) - begin;
    return {begin + len * options.shard / options.shards, begin + len * (options.shard + 1) / options.shards};
  }

  std::vector<int64_t> epoch_order(int64_t e) const {
    return epoch_sample_order(num_samples, options.shuffle, options.seed, e);
  }

  void start_epoch(int64_t e, typename BatchPipeline<B>::Build build) {
    pipeline.stop();
    epoch = e;
    order = epoch_order(e);
    pipeline.start(num_batches, options.threads, capacity, std::move(build));
  }

  // `loader` names the class in the error of a next() before start_epoch().
  bool next(B& batch, const char* loader) {
    if (epoch < 0) throw InternalError(fmt::format("{}::next called before start_epoch", loader));
    if (!pipeline.next(batch)) return false;
    skipped.insert(skipped.end(), batch.skipped.begin(), batch.skipped.end());
    return true;
  }

  // What the batches taken so far left out (options.skip_bad_samples); the consumer's thread only.
  std::vector<SkippedSample> skipped;
  std::vector<SkippedSample> take_skipped() { return std::exchange(skipped, {}); }
};

// dataset.get(index) through `read`; with options.skip_bad_samples, an InputError (a corrupt file) is
// recorded in `skipped` and gives nullopt instead.
template <class Read>
auto read_or_skip(const LoaderOptions& options, int64_t index, std::vector<SkippedSample>& skipped, Read read)
    -> std::optional<decltype(read())> {
  if (!options.skip_bad_samples) return read();
  try {
    return read();
  } catch (const InputError& e) {
    skipped.push_back({index, e.what()});
    return std::nullopt;
  }
}

// The first `rows` rows of a batch tensor [B, ...] (rows <= B): the batch after some samples were skipped.
inline Tensor first_rows(const Tensor& t, int64_t rows) {
  if (rows == 0) return Tensor();  // also when no sample was read (t has no shape)
  if (rows == t.dim(0)) return t;
  Shape shape = t.shape();
  shape[0] = rows;
  Tensor out = Tensor::empty(shape, t.dtype());
  std::memcpy(out.data(), t.data(), size_t(out.nbytes()));
  return out;
}

}  // namespace resnet
