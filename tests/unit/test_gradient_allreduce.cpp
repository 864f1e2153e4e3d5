// GradientAllReduce (src/train/gradient_allreduce.h) without MPI: its buckets (cut from the last-registered
// parameters backwards, the first-registered ones in a small bucket of their own) and the sums written back,
// with a communicator standing for K ranks that hold the same gradients (each sum = K x the data).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/communicator.h"
#include "train/gradient_allreduce.h"

namespace resnet {
namespace {

class RanksOfEqualGradients final : public Communicator {
 public:
  explicit RanksOfEqualGradients(int ranks) : ranks_(ranks) {}
  int rank() const override { return 0; }
  int size() const override { return ranks_; }
  void allreduce_sum(double* data, int64_t n) override { scale(data, n); }
  void allreduce_sum(float* data, int64_t n) override { scale(data, n); }
  void broadcast(void*, int64_t, int) override {}
  int64_t start_allreduce_sum(float* data, int64_t n) override {
    scale(data, n);
    return started_++;
  }
  void progress() override {}
  bool completed(int64_t) const override { return true; }
  void wait(int64_t) override {}
  void wait_all() override { started_ = 0; }
  [[noreturn]] void abort(int) override { std::abort(); }

 private:
  template <class T>
  void scale(T* data, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) data[i] *= T(ranks_);
  }
  int ranks_;
  int64_t started_ = 0;
};

// Parameters of the given float counts, in registration order; gradients 1, 2, 3, ... unless `frozen`.
std::vector<std::unique_ptr<Parameter>> parameters(const std::vector<int64_t>& sizes,
                                                   size_t frozen = SIZE_MAX) {
  std::vector<std::unique_ptr<Parameter>> params;
  float next = 1.0f;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto p = std::make_unique<Parameter>();
    p->name = fmt::format("p{}", i);
    p->value = Tensor::zeros({sizes[i]});
    if (i != frozen) {
      p->grad = Tensor::zeros({sizes[i]});
      for (int64_t j = 0; j < sizes[i]; ++j) p->grad.f32()[j] = next++;
    }
    params.push_back(std::move(p));
  }
  return params;
}

std::vector<Parameter*> pointers(const std::vector<std::unique_ptr<Parameter>>& params) {
  std::vector<Parameter*> out;
  for (const auto& p : params) out.push_back(p.get());
  return out;
}

// Registration order a=50, b=100, c=200 floats (the first 1000 bytes and past: the small last bucket), then
// h=300, d, e, f=100, g=10; cut backwards at 1000 bytes: {g, f, e, d} (1240 B) closes before h, {h} alone.
TEST(GradientAllReduce, BucketsAreCutFromTheLastRegisteredParametersBackwards) {
  RanksOfEqualGradients comm(2);
  const auto params = parameters({50, 100, 200, 300, 100, 100, 100, 10});
  GradientAllReduce allreduce(comm, pointers(params), /*bucket_bytes=*/1000);
  EXPECT_EQ(allreduce.bucket_bytes(), (std::vector<int64_t>{4 * 310, 4 * 300, 4 * 350}));
  EXPECT_EQ(allreduce.bytes(), 4 * 960);
}

TEST(GradientAllReduce, OneBucketWhenEverythingFitsTheSmallLastOne) {
  RanksOfEqualGradients comm(2);
  const auto params = parameters({10, 20, 30});
  GradientAllReduce allreduce(comm, pointers(params));
  EXPECT_EQ(allreduce.bucket_bytes(), (std::vector<int64_t>{4 * 60}));
}

// finish() starts the buckets backward did not complete, waits and writes every sum back; a parameter without
// a gradient (frozen) contributes zeros and still has none after.
TEST(GradientAllReduce, FinishWritesTheSumsIntoTheGradients) {
  RanksOfEqualGradients comm(3);
  const auto params = parameters({50, 100, 200, 300, 100, 100, 100, 10}, /*frozen=*/4);
  GradientAllReduce allreduce(comm, pointers(params), 1000);
  allreduce.keep_step_times();
  for (int step = 0; step < 2; ++step) {
    std::vector<std::vector<float>> before;
    for (const auto& p : params) {
      before.emplace_back();
      if (p->grad.defined()) before.back().assign(p->grad.f32(), p->grad.f32() + p->grad.numel());
    }
    allreduce.start_step();
    allreduce.finish();
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_EQ(params[i]->grad.defined(), i != 4) << params[i]->name;
      for (size_t j = 0; j < before[i].size(); ++j)
        ASSERT_EQ(params[i]->grad.f32()[j], 3.0f * before[i][j]) << params[i]->name << "[" << j << "]";
    }
  }
  EXPECT_EQ(allreduce.steps(), 2);
  ASSERT_EQ(allreduce.step_times().size(), 2u);
  for (const GradientAllReduce::StepTimes& t : allreduce.step_times()) {
    EXPECT_EQ(t.started.size(), 3u);
    EXPECT_GE(t.backward_ended, t.backward_began);
    for (size_t b = 0; b < 3; ++b) EXPECT_GE(t.completed[b], t.started[b]);
  }
}

// The gradients live in the buckets: after the first step each is a 64-byte-aligned slice of its bucket's
// buffer, so a bucket's sum is computed in place on them and the next step's backward accumulates there.
TEST(GradientAllReduce, GradientsBecomeSlicesOfTheirBucket) {
  RanksOfEqualGradients comm(2);
  const auto params = parameters({50, 100, 200, 300, 100, 100, 100, 10});
  GradientAllReduce allreduce(comm, pointers(params), 1000);
  allreduce.start_step();
  allreduce.finish();
  const float* first_grad[8];
  for (size_t i = 0; i < params.size(); ++i) {
    first_grad[i] = params[i]->grad.f32();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first_grad[i]) % 64, 0u) << params[i]->name;
  }
  // Bucket {g, f, e, d}: d, e, f in reverse registration order, each padded to 16 floats (100 -> 112).
  EXPECT_EQ(first_grad[6], first_grad[7] + 16);
  EXPECT_EQ(first_grad[5], first_grad[6] + 112);
  EXPECT_EQ(first_grad[4], first_grad[5] + 112);
  params[7]->grad.f32()[0] = 5.0f;  // what the next backward writes
  allreduce.start_step();
  allreduce.finish();
  EXPECT_EQ(params[7]->grad.f32(), first_grad[7]);
  EXPECT_EQ(params[7]->grad.f32()[0], 10.0f);
}

// Without RESNET_DDP_TIMING (keep_step_times()) a long run keeps one step's times, not one per step.
TEST(GradientAllReduce, KeepsOnlyTheLastStepsTimesUnlessAsked) {
  RanksOfEqualGradients comm(2);
  const auto params = parameters({50, 100, 200, 300});
  GradientAllReduce allreduce(comm, pointers(params), 1000);
  for (int step = 0; step < 3; ++step) {
    allreduce.start_step();
    allreduce.finish();
  }
  EXPECT_EQ(allreduce.steps(), 3);
  EXPECT_EQ(allreduce.step_times().size(), 1u);
  EXPECT_GE(allreduce.exposed_seconds(), 0.0);
}

}  // namespace
}  // namespace resnet
