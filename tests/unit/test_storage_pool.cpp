#include <gtest/gtest.h>

#include "core/storage_pool.h"
#include "resnet/tensor.h"

namespace resnet {
namespace {

TEST(StoragePool, ReusesAFreedLargeBlockOfTheSameSizeClass) {
  const void* first_address = nullptr;
  {
    Tensor big = Tensor::empty({1 << 20});  // 4 MiB
    first_address = big.data();
  }
  const size_t cached = storage_pool_cached_bytes();
  EXPECT_GE(cached, size_t{4} << 20);
  Tensor again = Tensor::empty({(1 << 20) - 3});  // same size class
  EXPECT_EQ(again.data(), first_address);
  EXPECT_EQ(storage_pool_cached_bytes(), cached - (size_t{4} << 20));
}

TEST(StoragePool, ZeroedTensorsAreZeroEvenWhenTheBlockIsReused) {
  { Tensor dirty = Tensor::full({1 << 20}, 7.0f); }
  Tensor clean({1 << 20});
  const float* p = clean.f32();
  for (int64_t i = 0; i < clean.numel(); ++i) ASSERT_EQ(p[i], 0.0f) << i;
}

TEST(StoragePool, StorageIsSixtyFourByteAligned) {
  for (int64_t n : {1, 3, 1000, 300000, 1 << 21}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << n;
  }
}

}  // namespace
}  // namespace resnet
