// resnet bench --arch A --batch B --size S [--dtype f32] [--iters N] [--threads T] [--json]
// Times eval forward passes on random input after warm-up; reports the median (and p99) batch time.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/rng.h"
#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int64_t batch = 1;
  int64_t size = 224;
  std::string dtype = "f32";
  int iters = 10;
  int warmup = 2;
  int threads = 0;
  bool json = false;
};

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

void run_bench(const BenchOptions& o) {
  if (o.dtype != "f32") throw InputError(fmt::format("--dtype {}: this build runs f32 only", o.dtype));
  apply_threads(o.threads);
  auto model = build_model(o.model);
  Tensor input({o.batch, o.size, o.size, o.model.in_channels});
  Rng rng(1);
  float* p = input.f32();
  for (int64_t i = 0; i < input.numel(); ++i) p[i] = static_cast<float>(rng.normal());

  for (int i = 0; i < o.warmup; ++i) model->forward(input);
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    model->forward(input);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  const double p50 = percentile(ms, 0.5);
  const double p99 = percentile(ms, 0.99);
  const double images_per_sec = static_cast<double>(o.batch) * 1000.0 / p50;
  if (o.json) {
    nlohmann::json out = {{"arch", o.model.arch},
                          {"batch", o.batch},
                          {"size", o.size},
                          {"dtype", o.dtype},
                          {"threads", ops::num_threads()},
                          {"iters", o.iters},
                          {"images_per_sec", images_per_sec},
                          {"ms_per_batch", p50},
                          {"p50_ms", p50},
                          {"p99_ms", p99}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << fmt::format(
        "{} batch {} {}x{} {} threads {}: {:.2f} images/s, {:.2f} ms/batch (p50), {:.2f} ms (p99)\n",
        o.model.arch, o.batch, o.size, o.size, o.dtype, ops::num_threads(), images_per_sec, p50, p99);
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "time eval forward passes (median images/s and ms/batch)");
  add_model_options(*cmd, o->model, true);
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--size", o->size, "image height and width")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", o->dtype, "f32")->capture_default_str();
  cmd->add_option("--iters", o->iters, "timed iterations")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "untimed iterations first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_threads_option(*cmd, o->threads);
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace resnet::cli
