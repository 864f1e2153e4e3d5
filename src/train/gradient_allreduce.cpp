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
  for (Bucket& b : buckets_) {
    int64_t n = 0;
    for (const Parameter* p : b.params) n += p->value.numel();
    b.buffer.resize(size_t(n));
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

// Copies the bucket's gradients (zeros for a parameter without one) into its buffer and starts its sum.
void GradientAllReduce::start(Bucket& b) {
  if (b.started) return;
  const double began = now();
  float* dst = b.buffer.data();
  for (const Parameter* p : b.params) {
    const int64_t n = p->value.numel();
    if (p->grad.defined()) {
      std::memcpy(dst, p->grad.f32(), size_t(n) * sizeof(float));
    } else {
      std::memset(dst, 0, size_t(n) * sizeof(float));
    }
    dst += n;
  }
  b.started = true;
  b.sum = comm_.start_allreduce_sum(b.buffer.data(), int64_t(b.buffer.size()));
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
  for (Bucket& b : buckets_) {
    const float* src = b.buffer.data();
    for (Parameter* p : b.params) {
      const int64_t n = p->value.numel();
      if (p->grad.defined()) std::memcpy(p->grad.f32(), src, size_t(n) * sizeof(float));
      src += n;
    }
  }
}

std::vector<int64_t> GradientAllReduce::bucket_bytes() const {
  std::vector<int64_t> bytes;
  for (const Bucket& b : buckets_) bytes.push_back(int64_t(b.buffer.size() * sizeof(float)));
  return bytes;
}

int64_t GradientAllReduce::bytes() const {
  int64_t n = 0;
  for (const Bucket& b : buckets_) n += int64_t(b.buffer.size() * sizeof(float));
  return n;
}

double GradientAllReduce::measure_unhidden(int repeats) {
  std::vector<std::vector<float>> scratch;
  for (const Bucket& b : buckets_) scratch.emplace_back(b.buffer.size(), 1.0f);
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
