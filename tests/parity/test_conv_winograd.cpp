// Training's Winograd F(4x4, 3x3) convolution (src/dnnl/conv_winograd.h) against torch: one 3x3 stride-1
// pad-1 Conv2d layer in train mode, forward then backward (dx and dw both through Winograd), at sizes that
// leave partial 4x4 tiles (batch 1 and 3, in != out channels; and batch 8 at 28x28, whose weight gradient
// sums over 392 tiles), gives torch's y within the logits bound and dx, dw within the gradient bound
// of the model parity tests (test_gradients.cpp), the reference computed in float64
// (tests/oracle/make_conv_winograd_fixtures.py). The same layer with --no-winograd's direct convolution is
// held to the same bounds, and the two paths are reported side by side.
#include <gtest/gtest.h>

#include <string>

#include "dnnl/conv_winograd.h"
#include "dnnl/ops.h"
#include "nn/conv2d.h"
#include "parity/fixtures.h"

namespace resnet::parity {
namespace {

constexpr double kGradientTolerance = 1e-3;  // as test_gradients.cpp

std::string case_file(const std::string& name, const std::string& what) {
  return "conv_winograd/" + name + "." + what + ".npy";
}

struct LayerResult {
  Tensor y, dx, dw;  // NCHW, NCHW, OIHW
};

using WinogradFor = ops::ConvWinogradScope;

LayerResult run_layer(const std::string& name, bool winograd) {
  const WinogradFor scope(winograd);
  const Tensor x = nchw_to_nhwc(load_fixture_npy(case_file(name, "x")));
  const Tensor w = load_fixture_npy(case_file(name, "w"));
  const Tensor dy = nchw_to_nhwc(load_fixture_npy(case_file(name, "dy")));
  Conv2d conv("conv", {.in_channels = w.dim(1), .out_channels = w.dim(0), .window = Window::square(3, 1, 1)});
  conv.weight().value.copy_from(w);
  conv.set_training(true);
  LayerResult r;
  r.y = nhwc_to_nchw(conv.forward(x));
  r.dx = nhwc_to_nchw(conv.backward(dy));
  r.dw = conv.weight().grad;
  return r;
}

void expect_within(const Tensor& ours, const std::string& name, const std::string& what, double tolerance,
                   const std::string& path) {
  const Tensor reference = load_fixture_npy(case_file(name, what));
  ASSERT_EQ(shape_str(ours.shape()), shape_str(reference.shape())) << name << " " << what;
  const Difference d = difference(ours, reference);
  report_difference(name + " " + what + " (" + path + ")", d);
  EXPECT_LE(d.ratio(), tolerance) << name << " " << what << " (" << path
                                  << "): max |ours - torch| = " << d.max_abs
                                  << ", max |torch| = " << d.max_reference;
}

TEST(ParityConvWinograd, A3x3Stride1LayerForwardAndBackwardMatchTorchThroughWinogradAndDirect) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json manifest = load_json(fixture_path("conv_winograd/manifest.json"));
  ASSERT_FALSE(manifest.at("cases").empty());
  for (const nlohmann::json& c : manifest.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    const int64_t n = c.at("n"), ch = c.at("c"), h = c.at("h"), w = c.at("w"), k = c.at("k");
    // The case must be one training sends through Winograd, or this test would check the direct path twice.
    const WinogradFor on(true);
    ASSERT_TRUE(ops::winograd_trains({n, h, w, ch}, {k, ch, 3, 3}, Window::square(3, 1, 1), DType::f32))
        << name;
    ASSERT_TRUE(
        ops::winograd_trains_weights({n, h, w, ch}, {k, ch, 3, 3}, Window::square(3, 1, 1), DType::f32))
        << name;
    for (const bool winograd : {true, false}) {
      const std::string path = winograd ? "winograd" : "direct";
      const LayerResult r = run_layer(name, winograd);
      expect_within(r.y, name, "y", kLogitsTolerance, path);
      expect_within(r.dx, name, "dx", kGradientTolerance, path);
      expect_within(r.dw, name, "dw", kGradientTolerance, path);
    }
  }
}

}  // namespace
}  // namespace resnet::parity
