// Data-parallel loading (LoaderOptions::shard): rank r of K takes the contiguous r-th part of every global
// batch, so the shards of an epoch are disjoint, and batch by batch their concatenation is the one-process
// batch (same samples, same order, same pixels).
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

std::shared_ptr<const Dataset> numbered_dataset(int n) {
  ImageArray array;
  array.count = n;
  array.height = array.width = 4;
  array.channels = 1;
  for (int i = 0; i < n; ++i) {
    array.pixels.insert(array.pixels.end(), 16, uint8_t(i));
    array.labels.push_back(i % 3);
  }
  DatasetInfo info;
  info.name = "numbered";
  info.class_names = {"a", "b", "c"};
  info.channels = 1;
  info.image_size = 4;
  return make_memory_dataset(std::move(array), std::move(info));
}

std::vector<Batch> epoch_batches(const std::shared_ptr<const Dataset>& data, LoaderOptions options,
                                 int64_t epoch) {
  Loader loader(data, TransformSpec{}, options);
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

TEST(LoaderShards, ShardsOfEachGlobalBatchAreDisjointAndTogetherTheOneProcessBatch) {
  const auto data = numbered_dataset(53);  // 53 = 2 x 24 + 5: a partial last batch
  for (int shards : {2, 3, 4}) {
    for (int64_t epoch : {0, 1}) {
      const LoaderOptions one{.batch_size = 24, .shuffle = true, .seed = 7, .threads = 2};
      const std::vector<Batch> whole = epoch_batches(data, one, epoch);
      std::vector<std::vector<Batch>> parts;
      for (int r = 0; r < shards; ++r) {
        LoaderOptions o = one;
        o.shard = r;
        o.shards = shards;
        parts.push_back(epoch_batches(data, o, epoch));
        ASSERT_EQ(parts.back().size(), whole.size());
      }
      std::set<int64_t> seen;
      for (size_t b = 0; b < whole.size(); ++b) {
        std::vector<int64_t> joined;
        std::vector<float> pixels;
        for (int r = 0; r < shards; ++r) {
          const Batch& p = parts[size_t(r)][b];
          joined.insert(joined.end(), p.samples.begin(), p.samples.end());
          if (p.images.defined())
            pixels.insert(pixels.end(), p.images.f32(), p.images.f32() + p.images.numel());
          for (int64_t s : p.samples) EXPECT_TRUE(seen.insert(s).second) << "sample " << s << " twice";
        }
        EXPECT_EQ(joined, whole[b].samples) << shards << " shards, batch " << b;
        ASSERT_EQ(pixels.size(), size_t(whole[b].images.numel()));
        EXPECT_EQ(0, std::memcmp(pixels.data(), whole[b].images.f32(), pixels.size() * sizeof(float)));
      }
      EXPECT_EQ(seen.size(), 53u);  // the union is the epoch
    }
  }
}

TEST(LoaderShards, RefusesAShardOutsideItsCount) {
  EXPECT_THROW(Loader(numbered_dataset(8), TransformSpec{}, {.batch_size = 4, .shard = 2, .shards = 2}),
               InputError);
}

}  // namespace
}  // namespace resnet
