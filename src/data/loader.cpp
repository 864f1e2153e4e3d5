// The loader: worker threads build whole batches (decode, augment, normalize) ahead of the consumer, at most
// `capacity` batches beyond the one it waits for. Batch b of an epoch always holds the same samples with the
// same augmentation, whichever worker builds it, so results do not depend on the number of threads.
#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/rng.h"
#include "data/transforms.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// splitmix64's finaliser: a bijective mix, so distinct inputs give well-spread, distinct seeds.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return mix(mix(seed) ^ uint64_t(epoch));
}
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return mix(epoch_seed(seed, epoch) ^ uint64_t(index));
}
uint64_t shuffle_seed(uint64_t seed, int64_t epoch) {
  return mix(epoch_seed(seed, epoch) ^ ~uint64_t(0));
}

struct Slot {
  Batch batch;
  std::exception_ptr error;
};

}  // namespace

struct Loader::Impl {
  std::shared_ptr<const Dataset> dataset;
  TransformSpec transform;
  LoaderOptions options;
  int64_t num_samples = 0;
  int64_t num_batches = 0;
  int64_t capacity = 0;  // batches claimed by workers beyond the consumer's next one

  // The current epoch. `epoch` and `order` change only while no worker runs.
  int64_t epoch = -1;
  std::vector<int64_t> order;
  std::mutex mutex;
  std::condition_variable ready_cv;  // a batch was added to `ready`
  std::condition_variable space_cv;  // the consumer took a batch, or the workers must stop
  std::map<int64_t, Slot> ready;
  int64_t next_claim = 0;
  int64_t next_consume = 0;
  bool stopping = false;
  std::vector<std::thread> workers;

  Batch build_batch(int64_t b) const;
  void work();
  void stop_workers();
};

// Batch b of the current epoch: samples order[b*B, min((b+1)*B, n)).
Batch Loader::Impl::build_batch(int64_t b) const {
  const int64_t begin = b * options.batch_size;
  const int64_t end = std::min(begin + options.batch_size, num_samples);
  Batch batch;
  batch.index = b;
  float* dst = nullptr;
  int64_t per_sample = 0;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t index = order[size_t(k)];
    Sample sample = dataset->get(index);
    Rng rng(sample_seed(options.seed, epoch, index));
    const Image image = transform_pixels(transform, std::move(sample.image), rng);
    const Shape shape{image.height, image.width, image.channels};
    if (k == begin) {
      batch.images = Tensor({end - begin, image.height, image.width, image.channels});
      dst = batch.images.f32();
      per_sample = shape_numel(shape);
    } else if (Shape(batch.images.shape().begin() + 1, batch.images.shape().end()) != shape) {
      throw InputError(
          fmt::format("{}: sample {} is {} (HWC) after the transform, but the batch's first sample is {}; "
                      "images of different "
                      "sizes need a crop or resize to one size",
                      dataset->info().name, index, shape_str(shape),
                      shape_str(Shape(batch.images.shape().begin() + 1, batch.images.shape().end()))));
    }
    normalize_into(transform, image, dst + (k - begin) * per_sample);
    batch.labels.push_back(sample.label);
    batch.samples.push_back(index);
  }
  return batch;
}

void Loader::Impl::work() {
  for (;;) {
    int64_t b = 0;
    {
      std::unique_lock lock(mutex);
      space_cv.wait(lock, [&] {
        return stopping || next_claim >= num_batches || next_claim < next_consume + capacity;
      });
      if (stopping || next_claim >= num_batches) return;
      b = next_claim++;
    }
    Slot slot;
    try {
      slot.batch = build_batch(b);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex);
      ready.emplace(b, std::move(slot));
    }
    ready_cv.notify_all();
  }
}

void Loader::Impl::stop_workers() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  space_cv.notify_all();
  for (std::thread& worker : workers) worker.join();
  workers.clear();
  ready.clear();
  stopping = false;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, TransformSpec transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!dataset) throw InternalError("Loader: no dataset");
  if (options.batch_size <= 0)
    throw InputError(fmt::format("batch size must be positive, got {}", options.batch_size));
  if (options.threads < 0)
    throw InputError(fmt::format("loader threads must be >= 0, got {}", options.threads));
  Impl& s = *impl_;
  s.num_samples = options.subset > 0 ? std::min(options.subset, dataset->size()) : dataset->size();
  s.num_batches = options.drop_last ? s.num_samples / options.batch_size
                                    : (s.num_samples + options.batch_size - 1) / options.batch_size;
  s.capacity = std::max<int64_t>({options.prefetch, options.threads, 1});
  s.dataset = std::move(dataset);
  s.transform = std::move(transform);
  s.options = options;
}

Loader::~Loader() {
  impl_->stop_workers();
}

const Dataset& Loader::dataset() const {
  return *impl_->dataset;
}
const LoaderOptions& Loader::options() const {
  return impl_->options;
}
int64_t Loader::num_samples() const {
  return impl_->num_samples;
}
int64_t Loader::num_batches() const {
  return impl_->num_batches;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(size_t(impl_->num_samples));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  if (!impl_->options.shuffle) return order;
  Rng rng(shuffle_seed(impl_->options.seed, epoch));  // Fisher-Yates
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

void Loader::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  s.stop_workers();
  s.epoch = epoch;
  s.order = epoch_order(epoch);
  s.next_claim = 0;
  s.next_consume = 0;
  const int64_t threads = std::min<int64_t>(s.options.threads, s.num_batches);
  for (int64_t t = 0; t < threads; ++t) s.workers.emplace_back([&s] { s.work(); });
}

bool Loader::next(Batch& batch) {
  Impl& s = *impl_;
  if (s.epoch < 0) throw InternalError("Loader::next called before start_epoch");
  if (s.next_consume >= s.num_batches) return false;
  if (s.workers.empty()) {  // threads = 0: build it here
    batch = s.build_batch(s.next_consume++);
    return true;
  }
  Slot slot;
  {
    std::unique_lock lock(s.mutex);
    s.ready_cv.wait(lock, [&] { return s.ready.count(s.next_consume) != 0; });
    auto it = s.ready.find(s.next_consume);
    slot = std::move(it->second);
    s.ready.erase(it);
    ++s.next_consume;
  }
  s.space_cv.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  batch = std::move(slot.batch);
  return true;
}

}  // namespace resnet
