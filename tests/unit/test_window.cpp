// The window arithmetic (src/core/window.h) that convolutions, pooling and the inference plan share:
// PyTorch's floor-mode output size, and the far (bottom/right) padding oneDNN needs to produce exactly that
// size.
#include <gtest/gtest.h>

#include "core/window.h"

namespace resnet {
namespace {

TEST(Window, SquareSetsBothAxesAsTorchIntArguments) {
  const Window w = Window::square(3, 2, 1, 2, 4);
  EXPECT_EQ(w.kernel_h, 3);
  EXPECT_EQ(w.kernel_w, 3);
  EXPECT_EQ(w.stride_h, 2);
  EXPECT_EQ(w.stride_w, 2);
  EXPECT_EQ(w.pad_h, 1);
  EXPECT_EQ(w.pad_w, 1);
  EXPECT_EQ(w.dilation_h, 2);
  EXPECT_EQ(w.dilation_w, 2);
  EXPECT_EQ(w.groups, 4);
  const Window pointwise = Window::square(1);
  EXPECT_EQ(pointwise.stride_h, 1);
  EXPECT_EQ(pointwise.pad_w, 0);
  EXPECT_EQ(pointwise.dilation_h, 1);
  EXPECT_EQ(pointwise.groups, 1);
}

// torch.nn.Conv2d's formula: floor((in + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1.
TEST(Window, OutputSizeIsPyTorchsFloorMode) {
  EXPECT_EQ(window_output_size(224, 7, 2, 3, 1), 112);  // ResNet stem
  EXPECT_EQ(window_output_size(112, 3, 2, 1, 1), 56);   // its max pool
  EXPECT_EQ(window_output_size(13, 3, 2, 1, 1), 7);
  EXPECT_EQ(window_output_size(14, 3, 2, 1, 1), 7);
  EXPECT_EQ(window_output_size(28, 3, 1, 2, 2), 28);  // dilated 3x3 keeps the size
  EXPECT_EQ(window_output_size(7, 1, 2, 0, 1), 4);
}

// Floor toward minus infinity: an input smaller than the window gives no output row, never a phantom one.
TEST(Window, OutputSizeOfATooSmallInputIsZeroOrNegative) {
  EXPECT_EQ(window_output_size(3, 5, 2, 0, 1), 0);  // floor(-2 / 2) + 1
  EXPECT_EQ(window_output_size(3, 5, 1, 0, 1), -1);
  EXPECT_EQ(window_output_size(1, 3, 1, 0, 3), -5);  // extent 7
  EXPECT_EQ(window_output_size(2, 7, 3, 0, 1), -1);  // floor(-5 / 3) + 1
}

TEST(Window, FarPaddingIsWhatTheLastWindowReachesInto) {
  EXPECT_EQ(window_far_padding(224, 7, 2, 3, 1), 2);  // last window: rows 219..225 of 0..223 (+3 before)
  EXPECT_EQ(window_far_padding(112, 3, 2, 1, 1), 0);  // last window ends on the last row
  EXPECT_EQ(window_far_padding(56, 3, 1, 1, 1), 1);
  EXPECT_EQ(window_far_padding(13, 1, 2, 0, 1), 0);
  EXPECT_EQ(window_far_padding(14, 1, 2, 0, 1), 0);  // the last row is never read
  EXPECT_EQ(window_far_padding(14, 3, 2, 1, 1), 0);  // PyTorch pads 1, no window reaches it
  EXPECT_EQ(window_far_padding(28, 3, 1, 2, 2), 2);
}

// For every small geometry: the far padding is never negative nor more than the near padding, oneDNN's
// output-size rule (in + pad + far - extent) / stride + 1 gives PyTorch's size with it, and one less would
// give fewer outputs (the tightest).
TEST(Window, FarPaddingIsTheTightestThatGivesPyTorchsOutputSize) {
  int checked = 0;
  for (int64_t in = 1; in <= 20; ++in)
    for (int64_t kernel = 1; kernel <= 7; ++kernel)
      for (int64_t stride = 1; stride <= 3; ++stride)
        for (int64_t pad = 0; pad <= 3; ++pad)
          for (int64_t dilation = 1; dilation <= 3; ++dilation) {
            const int64_t out = window_output_size(in, kernel, stride, pad, dilation);
            if (out < 1) continue;
            const int64_t extent = dilation * (kernel - 1) + 1;
            const int64_t far = window_far_padding(in, kernel, stride, pad, dilation);
            SCOPED_TRACE(testing::Message() << "in=" << in << " kernel=" << kernel << " stride=" << stride
                                            << " pad=" << pad << " dilation=" << dilation);
            ASSERT_GE(far, 0);
            ASSERT_LE(far, pad);
            ASSERT_GE(in + pad + far - extent, 0);
            EXPECT_EQ((in + pad + far - extent) / stride + 1, out);
            if (far > 0) {
              EXPECT_LT(in + pad + far - 1 - extent, (out - 1) * stride);
            }
            ++checked;
          }
  EXPECT_GT(checked, 1000);
}

TEST(Window, MethodsApplyTheArithmeticPerAxis) {
  const Window w{
      .kernel_h = 7, .kernel_w = 3, .stride_h = 2, .stride_w = 1, .pad_h = 3, .pad_w = 2, .dilation_w = 2};
  EXPECT_EQ(w.output_h(224), window_output_size(224, 7, 2, 3, 1));
  EXPECT_EQ(w.output_w(28), window_output_size(28, 3, 1, 2, 2));
  EXPECT_EQ(w.pad_bottom(224), window_far_padding(224, 7, 2, 3, 1));
  EXPECT_EQ(w.pad_right(28), window_far_padding(28, 3, 1, 2, 2));
  EXPECT_EQ(w.output_h(224), 112);
  EXPECT_EQ(w.pad_bottom(224), 2);
  EXPECT_EQ(w.output_w(28), 28);
  EXPECT_EQ(w.pad_right(28), 2);
}

TEST(Window, IntOrPairPrintsLikePyTorch) {
  EXPECT_EQ(int_or_pair(3, 3), "3");
  EXPECT_EQ(int_or_pair(3, 2), "(3, 2)");
}

}  // namespace
}  // namespace resnet
