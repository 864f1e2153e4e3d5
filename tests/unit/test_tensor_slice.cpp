// Tensor::slice: a tensor on part of another's storage (the gradient buckets of data-parallel training keep
// every gradient as a slice of one flat buffer).
#include <gtest/gtest.h>

#include <cstdint>

#include "resnet/error.h"
#include "resnet/tensor.h"

namespace resnet {
namespace {

TEST(TensorSlice, SharesTheStorageFromTheOffset) {
  Tensor flat = Tensor::zeros({64});
  for (int64_t i = 0; i < 64; ++i) flat.f32()[i] = float(i);
  const Tensor slice = flat.slice(16, {2, 3});
  EXPECT_EQ(slice.shape(), (Shape{2, 3}));
  EXPECT_EQ(slice.f32(), flat.f32() + 16);
  EXPECT_EQ(slice.f32()[5], 21.0f);
  flat.f32()[17] = -1.0f;
  EXPECT_EQ(slice.f32()[1], -1.0f);
}

TEST(TensorSlice, KeepsTheStorageAliveAfterTheWholeIsGone) {
  Tensor slice;
  {
    Tensor flat = Tensor::full({32}, 2.5f);
    slice = flat.slice(16, {16});
  }
  EXPECT_EQ(slice.f32()[15], 2.5f);
}

TEST(TensorSlice, RefusesUnalignedOffsetsAndSlicesPastTheEnd) {
  const Tensor flat = Tensor::zeros({64});
  EXPECT_THROW(flat.slice(4, {4}), InternalError);    // 16 bytes: not 64-byte aligned
  EXPECT_THROW(flat.slice(48, {17}), InternalError);  // past the end
  EXPECT_THROW(flat.slice(-16, {4}), InternalError);
  EXPECT_NO_THROW(flat.slice(48, {16}));
}

}  // namespace
}  // namespace resnet
