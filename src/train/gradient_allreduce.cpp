#include "train/gradient_allreduce.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace resnet {

GradientAllReduce::GradientAllReduce(Communicator& comm, std::vector<Parameter*> params, int64_t bucket_bytes)
    : comm_(comm) {
  const auto bytes_of = [](const Parameter* p) { return p->value.numel() * int64_t(sizeof(float)); };
  // The first-registered parameters (the stem, layer1: ready last) up to kLastBucketBytes...
  size_t tail = 0;
  for (int64_t bytes = 0; tail < params.size() && bytes < std::min(bucket_bytes, kLastBucketBytes);) {
    bytes += bytes_of(params[tail++]);
  }
  // ... and the others cut from the last-registered backwards (the order backward makes them final), so that
  // each bucket starts as soon as backward has passed its layers (resnet18: layer4 alone is ~34 MB).
  std::vector<std::vector<Parameter*>> cuts;
  int64_t bytes = 0;
  for (size_t i = params.size(); i-- > tail;) {
    if (cuts.empty() || bytes >= bucket_bytes) {
      cuts.emplace_back();
      bytes = 0;
    }
    cuts.back().push_back(params[i]);
    bytes += bytes_of(params[i]);
  }
  if (tail > 0)
    cuts.emplace_back(std::make_reverse_iterator(params.begin() + ptrdiff_t(tail)), params.rend());
  for (std::vector<Parameter*>& cut : cuts) {
    buckets_.emplace_back();
    buckets_.back().params = std::move(cut);
    for (Parameter* p : buckets_.back().params) bucket_of_[p] = buckets_.size() - 1;
  }
  constexpr int64_t kAlignFloats = 64 / sizeof(float);  // Tensor::slice keeps storage's 64-byte alignment
  for (Bucket& b : buckets_) {
    int64_t n = 0;
    for (const Parameter* p : b.params) {
      b.offsets.push_back(n);
      b.gradient_floats += p->value.numel();
      n += (p->value.numel() + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
    }
    b.buffer = Tensor::zeros({n});
  }
  Module::set_gradients_observer([this](Module& layer) { on_gradients_ready(layer); });
}

GradientAllReduce::~GradientAllReduce() {
  Module::set_gradients_observer(nullptr);
}

void GradientAllReduce::start_step() {
  for (Bucket& b : buckets_) {
    b.pending = int64_t(b.params.size());
    b.started = false;
    b.completed = false;
  }
  if (!keep_step_times_) step_times_.clear();
  StepTimes& t = step_times_.emplace_back();
  t.started.assign(buckets_.size(), 0.0);
  t.completed.assign(buckets_.size(), 0.0);
  t.progress_calls.assign(buckets_.size(), 0);
  t.start_cost.assign(buckets_.size(), 0.0);
  t.backward_began = now();
}

void GradientAllReduce::on_gradients_ready(Module& layer) {
  for (Parameter* p : layer.parameters()) {
    const auto it = bucket_of_.find(p);
    if (it == bucket_of_.end()) continue;
    Bucket& b = buckets_[it->second];
    if (--b.pending == 0) start(b);
  }
  comm_.progress();
  note_completed();
}

void GradientAllReduce::note_completed() {
  if (step_times_.empty()) return;  // a backward outside the training steps
  StepTimes& t = step_times_.back();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    if (!b.started || b.completed) continue;
    ++t.progress_calls[i];
    if (comm_.completed(b.sum)) {
      b.completed = true;
      t.completed[i] = now();
    }
  }
}

// A gradient not yet in the buffer (a parameter's first backward allocated it) is copied in and replaced by
// its slice of the buffer; from then on backward accumulates there. A parameter without a gradient (frozen)
// keeps none: its part of the buffer stays zeros, and so does its sum.
void GradientAllReduce::bind_gradients(Bucket& b) {
  for (size_t i = 0; i < b.params.size(); ++i) {
    Parameter& p = *b.params[i];
    float* slot = b.buffer.f32() + b.offsets[i];
    if (!p.grad.defined() || p.grad.f32() == slot) continue;
    std::memcpy(slot, p.grad.f32(), size_t(p.grad.numel()) * sizeof(float));
    p.grad = b.buffer.slice(b.offsets[i], p.value.shape());
  }
}

// Starts the bucket's sum, in place on the gradients.
void GradientAllReduce::start(Bucket& b) {
  if (b.started) return;
  const double began = now();
  bind_gradients(b);
  b.started = true;
  b.sum = comm_.start_allreduce_sum(b.buffer.f32(), b.buffer.numel());
  const size_t i = size_t(&b - buckets_.data());
  step_times_.back().started[i] = began;
  step_times_.back().start_cost[i] = now() - began;
}

void GradientAllReduce::finish() {
  StepTimes& t = step_times_.back();
  t.backward_ended = now();
  for (Bucket& b : buckets_) start(b);
  const double wait_began = now();
  // In the order they started (the order every rank started them in).
  std::vector<size_t> order(buckets_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return buckets_[a].sum < buckets_[b].sum; });
  for (size_t i : order) {
    if (buckets_[i].completed) continue;
    comm_.wait(buckets_[i].sum);
    buckets_[i].completed = true;
    t.completed[i] = now();
  }
  comm_.wait_all();
  t.waited = now() - wait_began;
  exposed_seconds_ += t.waited;
  ++steps_;
}

std::vector<int64_t> GradientAllReduce::bucket_bytes() const {
  std::vector<int64_t> bytes;
  for (const Bucket& b : buckets_) bytes.push_back(b.gradient_floats * int64_t(sizeof(float)));
  return bytes;
}

int64_t GradientAllReduce::bytes() const {
  int64_t n = 0;
  for (const Bucket& b : buckets_) n += b.gradient_floats * int64_t(sizeof(float));
  return n;
}

double GradientAllReduce::measure_unhidden(int repeats) {
  std::vector<std::vector<float>> scratch;
  for (const Bucket& b : buckets_) scratch.emplace_back(size_t(b.buffer.numel()), 1.0f);
  double seconds = 0.0;
  for (int r = 0; r < repeats + 1; ++r) {  // the first round warms up
    const auto t0 = std::chrono::steady_clock::now();
    for (std::vector<float>& buffer : scratch)
      comm_.start_allreduce_sum(buffer.data(), int64_t(buffer.size()));
    comm_.wait_all();
    if (r > 0) seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return seconds / repeats;
}

}  // namespace resnet
