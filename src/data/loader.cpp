// The loader: worker threads (data/batch_pipeline.h) build whole batches (decode, augment, normalize) ahead
// of the consumer, at most `capacity` batches beyond the one it waits for. Batch b of an epoch always holds
// the same samples with the same augmentation, whichever worker builds it, so results do not depend on the
// number of threads.
#include <fmt/format.h>

#include <algorithm>

#include "core/rng.h"
#include "data/batch_pipeline.h"
#include "data/random_erasing.h"
#include "data/transforms.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {

struct Loader::Impl : EpochBatches<Batch> {
  std::shared_ptr<const Dataset> dataset;
  TransformSpec transform;

  Batch build_batch(int64_t b) const;
};

// Batch b of the current epoch: samples order[batch_range(b)] (order[b*B, min((b+1)*B, n)) or this shard's
// part of it), less those skipped as unreadable
// (options.skip_bad_samples).
Batch Loader::Impl::build_batch(int64_t b) const {
  const auto [begin, end] = batch_range(b);
  Batch batch;
  batch.index = b;
  float* dst = nullptr;
  int64_t per_sample = 0;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t index = order[size_t(k)];
    std::optional<Sample> sample =
        read_or_skip(options, index, batch.skipped, [&] { return dataset->get(index); });
    if (!sample) continue;
    Rng rng(sample_seed(options.seed, epoch, index));
    const Image image = transform_pixels(transform, std::move(sample->image), rng);
    const Shape shape{image.height, image.width, image.channels};
    const int64_t row = int64_t(batch.labels.size());
    if (row == 0) {
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
    normalize_into(transform, image, dst + row * per_sample);
    random_erase(dst + row * per_sample, image.height, image.width, image.channels, transform.random_erasing,
                 rng);
    batch.labels.push_back(sample->label);
    batch.samples.push_back(index);
  }
  if (!batch.skipped.empty()) batch.images = first_rows(batch.images, int64_t(batch.labels.size()));
  return batch;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, TransformSpec transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!dataset) throw InternalError("Loader: no dataset");
  impl_->configure(dataset->size(), options);
  impl_->dataset = std::move(dataset);
  impl_->transform = std::move(transform);
}

Loader::~Loader() {
  impl_->pipeline.stop();
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
  return impl_->epoch_order(epoch);
}

void Loader::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  s.start_epoch(epoch, [&s](int64_t b) { return s.build_batch(b); });
}

bool Loader::next(Batch& batch) {
  return impl_->next(batch, "Loader");
}

std::vector<SkippedSample> Loader::take_skipped() {
  return impl_->take_skipped();
}

}  // namespace resnet
