// onednn::accumulate adds a primitive's output, in whatever layout it chose, into a plain f32 gradient: the
// hand-written path for oneDNN's blocked weight gradients (ABcd16b16a, channels multiples of 16) and the
// reorder-with-sum path for every other layout must both give acc + diff exactly, element by element.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dnnl/accumulate.h"
#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using tag = dnnl::memory::format_tag;
using test::random_tensor;

// diff = random `values` [O,I,H,W] reordered into `layout` by oneDNN; accumulating it into acc must give
// acc + values.
void expect_accumulates_exactly(const Shape& shape, tag layout) {
  SCOPED_TRACE(fmt::format("[{}, {}, {}, {}]", shape[0], shape[1], shape[2], shape[3]));
  const dnnl::memory::dims dims(shape.begin(), shape.end());
  const dnnl::memory::desc plain_md(dims, dnnl::memory::data_type::f32, tag::abcd);
  const dnnl::memory::desc diff_md(dims, dnnl::memory::data_type::f32, layout);
  const Tensor values = random_tensor(shape, 1);
  dnnl::memory diff(diff_md, onednn::cpu_engine());
  dnnl::stream stream(onednn::cpu_engine());
  dnnl::memory from = onednn::wrap(values, plain_md);
  dnnl::reorder(from, diff).execute(stream, from, diff);
  stream.wait();

  Tensor acc = random_tensor(shape, 2);
  const Tensor before = acc.clone();
  const std::string key =
      fmt::format("test_accumulate|{}|{}x{}x{}x{}", static_cast<int>(layout), shape[0], shape[1], shape[2],
                  shape[3]);  // determines diff's descriptor, as accumulate asks
  onednn::accumulate(acc, plain_md, diff, key);
  for (int64_t i = 0; i < acc.numel(); ++i)
    ASSERT_EQ(acc.f32()[i], before.f32()[i] + values.f32()[i]) << "element " << i;
}

TEST(Accumulate, BlockedWeightGradientOf1x1ConvolutionAddsTransposedBlocks) {
  expect_accumulates_exactly({32, 48, 1, 1}, tag::ABcd16b16a);
  expect_accumulates_exactly({256, 64, 1, 1}, tag::ABcd16b16a);
}

TEST(Accumulate, BlockedWeightGradientOf3x3ConvolutionAddsEverySpatialTap) {
  expect_accumulates_exactly({16, 32, 3, 3}, tag::ABcd16b16a);
  expect_accumulates_exactly({48, 16, 7, 5}, tag::ABcd16b16a);
}

TEST(Accumulate, PaddedAndOtherLayoutsTakeTheReorderWithSum) {
  expect_accumulates_exactly({24, 3, 7, 7}, tag::ABcd16b16a);  // padded blocks (the stem's 3 input channels)
  expect_accumulates_exactly({32, 16, 3, 3}, tag::Acdb16a);
  expect_accumulates_exactly({16, 32, 1, 1}, tag::ABcd16a16b);
}

TEST(Accumulate, SameLayoutIsAPlainAdd) {
  expect_accumulates_exactly({8, 4, 3, 3}, tag::abcd);
}

}  // namespace
}  // namespace resnet
