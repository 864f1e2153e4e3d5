// Single-layer timings of the layer-by-layer kernels (src/dnnl/ops.h) at ResNet-50 shapes, batch 32, NHWC
// f32 (and bf16 activations for the 3x3 convolutions); training's 3x3 convolutions direct and Winograd
// (forward, backward-data, backward-weights), its other convolutions' backward passes, its batch norm.
// Convolutions also report GFLOP/s (2 FLOPs per multiply-accumulate): the rate one well-shaped convolution
// reaches is what bounds a whole network here.
#include <benchmark/benchmark.h>

#include "dnnl/conv_winograd.h"
#include "dnnl/ops.h"

namespace resnet {
namespace {

constexpr int64_t kBatch = 32;

Tensor filled(Shape shape, float value) {
  Tensor t(std::move(shape));
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value * static_cast<float>(i % 7 - 3);
  return t;
}

// x [32,H,H,C] (f32 or bf16) convolved with [O,C,K,K] at the given stride, padding K/2.
void conv(benchmark::State& state, int64_t h, int64_t c, int64_t o, int64_t k, int64_t stride,
          DType dtype = DType::f32) {
  ops::set_conv_winograd(false);  // oneDNN's direct convolution (BM_TrainConv3x3 times the Winograd one)
  Tensor x = ops::convert(filled({kBatch, h, h, c}, 0.1f), dtype);
  Tensor w = filled({o, c, k, k}, 0.01f);
  const Window window = Window::square(k, stride, k / 2);
  Tensor y;
  for (auto _ : state) {
    y = ops::conv2d_forward(x, w, Tensor(), window);
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * static_cast<double>(y.numel()) * static_cast<double>(c * k * k);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ConvStem7x7Stride2(benchmark::State& state) {
  conv(state, 224, 3, 64, 7, 2);
}
void BM_Conv3x3Layer1(benchmark::State& state) {
  conv(state, 56, 64, 64, 3, 1);
}
void BM_Conv3x3Layer2(benchmark::State& state) {
  conv(state, 28, 128, 128, 3, 1);
}
void BM_Conv3x3Layer3(benchmark::State& state) {
  conv(state, 14, 256, 256, 3, 1);
}
void BM_Conv3x3Layer1Bf16(benchmark::State& state) {
  conv(state, 56, 64, 64, 3, 1, DType::bf16);
}
void BM_Conv3x3Layer2Bf16(benchmark::State& state) {
  conv(state, 28, 128, 128, 3, 1, DType::bf16);
}
void BM_Conv3x3Layer3Bf16(benchmark::State& state) {
  conv(state, 14, 256, 256, 3, 1, DType::bf16);
}
void BM_Conv1x1Reduce256To64(benchmark::State& state) {
  conv(state, 56, 256, 64, 1, 1);
}
void BM_Conv1x1Expand64To256(benchmark::State& state) {
  conv(state, 56, 64, 256, 1, 1);
}

// Training's 3x3 stride-1 convolutions, Args {N, H (= W), C, K, pass (0 forward, 1 backward-data, 2
// backward-weights), path (0 oneDNN direct, 1 Winograd F(4x4,3x3))}: the numbers behind winograd_trains()
// and winograd_trains_weights() (src/dnnl/conv_winograd.cpp). GFLOPS counts the direct convolution's
// multiplies for both paths (a rate above the direct one's is a shorter time).
void BM_TrainConv3x3(benchmark::State& state) {
  const int64_t n = state.range(0), h = state.range(1), c = state.range(2), k = state.range(3);
  const int64_t pass = state.range(4);
  const bool winograd = state.range(5) == 1;
  ops::set_conv_winograd(false);
  const Window window = Window::square(3, 1, 1);
  const Tensor x = filled({n, h, h, pass == 1 ? k : c}, 0.1f), w = filled({k, c, 3, 3}, 0.01f);
  const Tensor dy = filled({n, h, h, k}, 0.05f);
  Tensor y, dw = Tensor::zeros({k, c, 3, 3});
  for (auto _ : state) {
    if (pass == 2) {
      if (winograd) {
        ops::conv2d_backward_weights_winograd(x, dy, dw, nullptr);
      } else {
        ops::conv2d_backward_weights(x, dy, window, dw, nullptr);
      }
      benchmark::DoNotOptimize(dw.data());
    } else if (pass == 1) {
      y = winograd ? ops::conv2d_backward_data_winograd(x, w)
                   : ops::conv2d_backward_data(x, w, {n, h, h, c}, window);
    } else {
      y = winograd ? ops::conv2d_forward_winograd(x, w, Tensor())
                   : ops::conv2d_forward(x, w, Tensor(), window);
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * static_cast<double>(n * h * h * c * k * 9);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// resnet20 / resnet18 --stem cifar at 28x28 batch 128, resnet50 at 224x224 batch 32.
void train_conv3x3_shapes(benchmark::internal::Benchmark* b) {
  constexpr int64_t kShapes[][4] = {{128, 28, 16, 16},  {128, 14, 32, 32},   {128, 7, 64, 64},
                                    {128, 28, 64, 64},  {128, 14, 128, 128}, {128, 7, 256, 256},
                                    {128, 4, 512, 512}, {32, 56, 64, 64},    {32, 28, 128, 128},
                                    {32, 14, 256, 256}, {32, 7, 512, 512}};
  for (const auto& s : kShapes)
    for (int64_t pass : {0, 1, 2})
      for (int64_t path : {0, 1}) b->Args({s[0], s[1], s[2], s[3], pass, path});
}

// Training's backward passes of the other convolutions, as conv2d_backward_data / conv2d_backward_weights run
// them (weight gradients over patches, src/dnnl/conv_weight_matmul.h; 1x1 stride-2 input gradients through
// the input's phases, src/dnnl/conv_phases.h). Args {N, H (= W, input), C, K, kernel, stride, pass (1
// backward-data, 2 backward-weights)}. Timing one build's library against another's with the same binary
// (LD_LIBRARY_PATH) is the A/B of docs/BENCHMARKS.md "Weight gradients as matmuls, stride 2 through phases".
void BM_TrainConvBackward(benchmark::State& state) {
  const int64_t n = state.range(0), h = state.range(1), c = state.range(2), k = state.range(3);
  const int64_t kernel = state.range(4), stride = state.range(5), pass = state.range(6);
  const Window window = Window::square(kernel, stride, kernel / 2);
  const int64_t oh = window.output_h(h);
  const Tensor x = filled({n, h, h, c}, 0.1f), w = filled({k, c, kernel, kernel}, 0.01f);
  const Tensor dy = filled({n, oh, oh, k}, 0.05f);
  Tensor dx, dw = Tensor::zeros({k, c, kernel, kernel});
  for (auto _ : state) {
    if (pass == 2) {
      ops::conv2d_backward_weights(x, dy, window, dw, nullptr);
      benchmark::DoNotOptimize(dw.data());
    } else {
      dx = ops::conv2d_backward_data(dy, w, x.shape(), window);
      benchmark::DoNotOptimize(dx.data());
    }
  }
  const double flops = 2.0 * static_cast<double>(n * oh * oh * c * k * kernel * kernel);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// resnet50 at 224x224 batch 32 (its stride-2 3x3 and 1x1 convolutions, its 1x1 weight gradients), resnet18
// --stem cifar and resnet20 at 28x28 batch 128 (their stride-2 convolutions).
void train_conv_backward_shapes(benchmark::internal::Benchmark* b) {
  constexpr int64_t kShapes[][7] = {
      {32, 56, 128, 128, 3, 2, 2},  {32, 28, 256, 256, 3, 2, 2},  {32, 14, 512, 512, 3, 2, 2},
      {128, 28, 64, 128, 3, 2, 2},  {128, 14, 128, 256, 3, 2, 2}, {128, 7, 256, 512, 3, 2, 2},
      {32, 56, 256, 512, 1, 2, 1},  {32, 28, 512, 1024, 1, 2, 1}, {32, 14, 1024, 2048, 1, 2, 1},
      {32, 14, 256, 1024, 1, 1, 2}, {32, 14, 1024, 256, 1, 1, 2}, {32, 7, 2048, 512, 1, 1, 2},
      {32, 7, 512, 2048, 1, 1, 2},  {32, 28, 256, 512, 1, 1, 2},  {32, 56, 64, 256, 1, 1, 2},
      {32, 56, 256, 512, 1, 2, 2},  {32, 28, 512, 1024, 1, 2, 2}, {32, 14, 1024, 2048, 1, 2, 2},
      {128, 28, 64, 128, 1, 2, 2},  {128, 28, 16, 32, 3, 2, 2},   {128, 14, 32, 64, 3, 2, 2},
      {128, 28, 64, 128, 1, 2, 1}};
  for (const auto& s : kShapes) b->Args({s[0], s[1], s[2], s[3], s[4], s[5], s[6]});
}

// Args {N, H (= W), C}: resnet50's batch norms at 224x224 batch 32, resnet18 --stem cifar's first at 28x28.
void BM_BatchNormTraining(benchmark::State& state) {
  const int64_t n = state.range(0), h = state.range(1), c = state.range(2);
  Tensor x = filled({n, h, h, c}, 0.1f);
  Tensor weight = filled({c}, 1.0f), bias = filled({c}, 0.1f), mean, var;
  for (auto _ : state)
    benchmark::DoNotOptimize(ops::batchnorm_forward_training(x, weight, bias, 1e-5f, mean, var));
  state.counters["GB/s read"] = benchmark::Counter(static_cast<double>(x.nbytes()) * 1e-9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

void BM_BatchNormInference(benchmark::State& state) {
  Tensor x = filled({kBatch, 56, 56, 256}, 0.1f);
  Tensor weight = filled({256}, 1.0f), bias = filled({256}, 0.1f), mean = filled({256}, 0.0f);
  Tensor var = Tensor::full({256}, 1.0f);
  for (auto _ : state)
    benchmark::DoNotOptimize(ops::batchnorm_forward_inference(x, weight, bias, mean, var, 1e-5f));
}

void BM_MaxPoolStem(benchmark::State& state) {
  Tensor x = filled({kBatch, 112, 112, 64}, 0.1f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::maxpool2d_forward(x, Window::square(3, 2, 1)));
}

void BM_Relu(benchmark::State& state) {
  Tensor x = filled({kBatch, 56, 56, 256}, 0.1f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::relu_forward(x));
}

void BM_AddResidual(benchmark::State& state) {
  Tensor a = filled({kBatch, 56, 56, 256}, 0.1f), b = filled({kBatch, 56, 56, 256}, 0.2f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::add(a, b));
}

// A residual block's input gradient (branch + shortcut parts) through the ReLU before it, at resnet50's
// layer1 output [32,56,56,256]: Arg 0 = the two passes training ran before (add_to, relu_backward), 1 = one
// pass (relu_backward_sum).
void BM_ResidualGradientJoin(benchmark::State& state) {
  Tensor a = filled({kBatch, 56, 56, 256}, 0.1f), b = filled({kBatch, 56, 56, 256}, 0.2f);
  const Tensor y = ops::relu_forward(filled({kBatch, 56, 56, 256}, 0.3f));
  for (auto _ : state) {
    if (state.range(0) == 1) {
      benchmark::DoNotOptimize(ops::relu_backward_sum(a, b, y));
    } else {
      ops::add_to(a, b);
      benchmark::DoNotOptimize(ops::relu_backward(a, y));
    }
  }
}

void BM_AdaptiveAvgPoolHead(benchmark::State& state) {
  Tensor x = filled({kBatch, 7, 7, 2048}, 0.1f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::adaptive_avgpool2d_forward(x, 1, 1));
}

void BM_LinearHead(benchmark::State& state) {
  Tensor x = filled({kBatch, 2048}, 0.1f), w = filled({1000, 2048}, 0.01f), bias = filled({1000}, 0.1f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::linear_forward(x, w, bias));
}

}  // namespace

BENCHMARK(BM_ConvStem7x7Stride2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer1Bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer2Bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3Layer3Bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1x1Reduce256To64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1x1Expand64To256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainConv3x3)->Apply(train_conv3x3_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainConvBackward)
    ->Apply(train_conv_backward_shapes)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_BatchNormTraining)
    ->Args({32, 56, 256})
    ->Args({32, 28, 512})
    ->Args({32, 14, 1024})
    ->Args({32, 7, 2048})
    ->Args({32, 56, 64})
    ->Args({128, 28, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_BatchNormInference)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ResidualGradientJoin)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MaxPoolStem)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Relu)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AddResidual)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AdaptiveAvgPoolHead)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LinearHead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace resnet
