// SegmentationLoader: batches of normalised images and their masks, built ahead by worker threads
// (data/batch_pipeline.h, shared with the classification Loader).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "data/batch_pipeline.h"
#include "data/transforms.h"
#include "resnet/error.h"
#include "resnet/segmentation_data.h"

namespace resnet {

struct SegmentationLoader::Impl : EpochBatches<SegmentationBatch> {
  std::shared_ptr<const SegmentationDataset> dataset;
  SegmentationTransform transform;
  TransformSpec normalize;  // mean/std only: ToTensor + Normalize of the image

  SegmentationBatch build_batch(int64_t b) const;
};

// Batch b of the current epoch: samples order[b*B, min((b+1)*B, n)), less those skipped as unreadable
// (options.skip_bad_samples).
SegmentationBatch SegmentationLoader::Impl::build_batch(int64_t b) const {
  const auto [begin, end] = batch_range(b);  // LoaderOptions::shard's part of batch b
  SegmentationBatch batch;
  batch.index = b;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t index = order[size_t(k)];
    std::optional<SegmentationSample> read =
        read_or_skip(options, index, batch.skipped, [&] { return dataset->get(index); });
    if (!read) continue;
    const SegmentationSample sample =
        augment_segmentation(transform, std::move(*read), sample_seed(options.seed, epoch, index));
    const Image& image = sample.image;
    const int64_t row = int64_t(batch.samples.size());
    if (row == 0) {
      batch.images = Tensor::empty({end - begin, image.height, image.width, image.channels});
      batch.masks = Tensor::empty({end - begin, image.height, image.width}, DType::u8);
    } else if (batch.images.dim(1) != image.height || batch.images.dim(2) != image.width ||
               batch.images.dim(3) != image.channels) {
      throw InputError(fmt::format(
          "{}: sample {} is {}x{}x{} (HWC) after the transform, but the batch's first sample is {}x{}x{}; "
          "images of different sizes need a crop size",
          dataset->info().name, index, image.height, image.width, image.channels, batch.images.dim(1),
          batch.images.dim(2), batch.images.dim(3)));
    }
    const int64_t pixels = int64_t(image.height) * image.width;
    normalize_into(normalize, image, batch.images.f32() + row * pixels * image.channels);
    std::memcpy(batch.masks.data_as<uint8_t>() + row * pixels, sample.mask.pixels.data(), size_t(pixels));
    batch.samples.push_back(index);
  }
  if (!batch.skipped.empty()) {
    batch.images = first_rows(batch.images, int64_t(batch.samples.size()));
    batch.masks = first_rows(batch.masks, int64_t(batch.samples.size()));
  }
  return batch;
}

SegmentationLoader::SegmentationLoader(std::shared_ptr<const SegmentationDataset> dataset,
                                       SegmentationTransform transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!dataset) throw InternalError("SegmentationLoader: no dataset");
  Impl& s = *impl_;
  s.configure(dataset->size(), options);
  s.dataset = std::move(dataset);
  s.normalize.mean = transform.mean;
  s.normalize.std = transform.std;
  s.transform = std::move(transform);
}

SegmentationLoader::~SegmentationLoader() {
  impl_->pipeline.stop();
}

const SegmentationDataset& SegmentationLoader::dataset() const {
  return *impl_->dataset;
}
int64_t SegmentationLoader::num_samples() const {
  return impl_->num_samples;
}
int64_t SegmentationLoader::num_batches() const {
  return impl_->num_batches;
}

std::vector<int64_t> SegmentationLoader::epoch_order(int64_t epoch) const {
  return impl_->epoch_order(epoch);
}

void SegmentationLoader::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  s.start_epoch(epoch, [&s](int64_t b) { return s.build_batch(b); });
}

bool SegmentationLoader::next(SegmentationBatch& batch) {
  return impl_->next(batch, "SegmentationLoader");
}

std::vector<SkippedSample> SegmentationLoader::take_skipped() {
  return impl_->take_skipped();
}

}  // namespace resnet
