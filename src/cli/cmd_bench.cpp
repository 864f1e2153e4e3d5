// resnet bench --arch A --batch B --size S [--dtype f32|bf16|int8] [--no-fuse] [--iters N] [--threads T]
//              [--json]
// Times eval forward passes on random input after warm-up; reports the median (and p99) batch time. Runs the
// compiled inference plan (compiled once, before timing) unless --no-fuse asks for the layer-by-layer model.
// int8 uses the scales of an .int8.safetensors --weights file, or else calibrates min-max on the random input
// batch itself (the speed does not depend on the scales; a note says so). A U-Net (--arch unet-..., --size a
// multiple of 2^depth) times its plan of per-pixel logits, f32 or bf16.
// --callers N: N threads call one plan at once (InferencePlan's concurrency contract), each with its own
// random batch of --batch images, sharing the --threads OpenMP threads (each caller max(1, threads / N));
// images/s counts every caller's images over the wall time of all of them, ms/call is per call.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <latch>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli/bench_train.h"
#include "cli/common.h"
#include "core/rng.h"
#include "dnnl/ops.h"
#include "resnet/calibration.h"
#include "resnet/error.h"
#include "resnet/plan.h"
#include "resnet/unet.h"

namespace resnet::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int64_t batch = 1;
  int64_t size = 224;
  std::string dtype = "f32";
  bool no_fuse = false;
  bool no_winograd = false;
  bool show_plan = false;
  int64_t sub_batch = 0;
  int iters = 10;
  int warmup = 2;
  int threads = 0;
  int callers = 1;
  bool json = false;
  bool verbose = false;
  TuneFlags tune;
};

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// CPU time of the whole process (all threads, user + system) in ms. On a machine shared with other work,
// the CPU time per batch shows the work done independently of how long the threads waited for a core.
double process_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

Tensor random_images(const Shape& shape, uint64_t seed) {
  Tensor images(shape);
  Rng rng(seed);
  float* p = images.f32();
  for (int64_t i = 0; i < images.numel(); ++i) p[i] = static_cast<float>(rng.normal());
  return images;
}

// What --callers measures: per-call times of every caller, and the wall and process CPU time from the
// common start to the last caller's end.
struct CallersTiming {
  std::vector<double> call_ms;
  double wall_ms = 0.0;
  double cpu_ms = 0.0;
};

// `callers` threads, started together, each running `warmup` then `iters` calls of plan.run on its own
// random images with `threads_per_caller` OpenMP threads.
CallersTiming time_concurrent_callers(InferencePlan& plan, int callers, int threads_per_caller, int warmup,
                                      int iters) {
  CallersTiming timing;
  std::mutex mutex;
  std::latch warmed_up(callers + 1), go(1);
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      ops::set_num_threads(threads_per_caller);
      const Tensor x = random_images(plan.input_shape(), 1 + static_cast<uint64_t>(c));
      Tensor logits = Tensor::empty(plan.output_shape());
      for (int i = 0; i < warmup; ++i) plan.run(x, logits);
      warmed_up.count_down();
      go.wait();
      std::vector<double> ms;
      for (int i = 0; i < iters; ++i) {
        const auto start = std::chrono::steady_clock::now();
        plan.run(x, logits);
        ms.push_back(ms_since(start));
      }
      std::lock_guard lock(mutex);
      timing.call_ms.insert(timing.call_ms.end(), ms.begin(), ms.end());
    });
  }
  warmed_up.arrive_and_wait();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_ms();
  go.count_down();
  for (std::thread& t : threads) t.join();
  timing.wall_ms = ms_since(start);
  timing.cpu_ms = process_cpu_ms() - cpu_start;
  return timing;
}

// The line that says the plan was tuned (and, verbose, which kernel each convolution got).
void print_tuning(const PlanStats& s, double compile_ms, bool verbose) {
  std::cout << fmt::format(
      "tuned: {} convolutions, {} from the cache, {} candidate kernels timed (compile {:.0f} ms); cache {}\n",
      s.tuned_convolutions, s.tuning_cache_hits, s.tuning_timings, compile_ms, s.tuning_cache);
  if (verbose) {
    for (const std::string& line : s.tuned_kernels) std::cout << "  " << line << "\n";
  }
}

void run_bench(const BenchOptions& o) {
  const Precision precision = parse_precision(o.dtype);
  if (precision == Precision::bf16) note_if_bf16_is_slower("--dtype");
  if (o.no_fuse && precision != Precision::f32) {
    throw InputError(fmt::format("--dtype {}: the layer-by-layer path (--no-fuse) runs f32 only", o.dtype));
  }
  if (o.callers > 1 && o.no_fuse)
    throw InputError("--callers: concurrent callers share a compiled plan, not --no-fuse");
  apply_threads(o.threads);
  // Each caller's OpenMP threads: the plan is compiled under the count it runs with.
  const int total_threads = ops::num_threads();
  const int threads_per_caller = std::max(1, total_threads / o.callers);
  if (o.callers > 1) ops::set_num_threads(threads_per_caller);
  std::shared_ptr<const Int8Calibration> int8;
  // A classifier or a U-Net (--arch unet-...: per-pixel logits; no int8 plan).
  auto model = build_any_model(o.model, Init::torchvision, &int8);
  auto* unet = dynamic_cast<UNet*>(model.get());
  Tensor input = random_images({o.batch, o.size, o.size, o.model.in_channels}, 1);
  if (precision == Precision::int8 && int8 == nullptr && unet == nullptr) {
    std::cerr << "resnet: note: no int8 calibration in the weights; calibrating min-max on the random input "
                 "(fine for timing; use resnet quantize for accuracy)\n";
    Calibrator calibrator(dynamic_cast<ResNet&>(*model), {.method = CalibrationMethod::minmax});
    calibrator.observe(input);
    int8 = std::make_shared<const Int8Calibration>(calibrator.finish());
  }

  std::optional<InferencePlan> plan;
  Tensor logits;
  double compile_ms = 0.0;
  if (!o.no_fuse) {
    const auto start = std::chrono::steady_clock::now();
    PlanOptions options{.sub_batch = o.sub_batch, .winograd = !o.no_winograd};
    options.tune = want_tuning(o.tune, true);
    if (precision == Precision::int8) options.int8 = int8;
    plan.emplace(
        unet ? InferencePlan::compile(*unet, precision, input.shape(), options)
             : InferencePlan::compile(dynamic_cast<ResNet&>(*model), precision, input.shape(), options));
    compile_ms = ms_since(start);
    logits = Tensor::empty(plan->output_shape());
    if (o.show_plan) std::cerr << plan->describe();
  }
  auto forward = [&] {
    if (plan) {
      plan->run(input, logits);
    } else {
      model->forward(input);
    }
  };

  std::vector<double> ms;
  double images_per_sec = 0.0, cpu_ms_per_batch = 0.0;
  if (o.callers > 1) {  // a batch is one call of one caller
    const CallersTiming timing =
        time_concurrent_callers(*plan, o.callers, threads_per_caller, o.warmup, o.iters);
    ms = timing.call_ms;
    images_per_sec = static_cast<double>(o.batch * o.callers * o.iters) * 1000.0 / timing.wall_ms;
    cpu_ms_per_batch = timing.cpu_ms / (o.callers * o.iters);
  } else {
    for (int i = 0; i < o.warmup; ++i) forward();
    const double cpu_start = process_cpu_ms();
    for (int i = 0; i < o.iters; ++i) {
      const auto start = std::chrono::steady_clock::now();
      forward();
      ms.push_back(ms_since(start));
    }
    cpu_ms_per_batch = (process_cpu_ms() - cpu_start) / o.iters;
  }
  const double p50 = percentile(ms, 0.5);
  const double p99 = percentile(ms, 0.99);
  if (o.callers == 1) images_per_sec = static_cast<double>(o.batch) * 1000.0 / p50;
  // A tuned bf16 plan runs f32 where that is faster (PlanOptions::tune).
  const std::string dtype_run = plan ? std::string(precision_name(plan->precision())) : o.dtype;
  if (o.json) {
    nlohmann::json out = {{"arch", o.model.arch},
                          {"batch", o.batch},
                          {"size", o.size},
                          {"dtype", o.dtype},
                          {"dtype_run", dtype_run},
                          {"path", plan ? "plan" : "layers"},
                          {"sub_batch", o.sub_batch},
                          {"winograd", plan && plan->stats().winograd_convolutions > 0},
                          {"threads", total_threads},
                          {"callers", o.callers},
                          {"iters", o.iters},
                          {"images_per_sec", images_per_sec},
                          {"ms_per_batch", p50},
                          {"p50_ms", p50},
                          {"p99_ms", p99},
                          {"cpu_ms_per_batch", cpu_ms_per_batch}};
    if (plan) {
      out["compile_ms"] = compile_ms;
      if (plan->options().tune) {
        const PlanStats& s = plan->stats();
        out["tuned_convolutions"] = s.tuned_convolutions;
        out["tuning_cache_hits"] = s.tuning_cache_hits;
        out["tuning_timings"] = s.tuning_timings;
        out["tuning_cache"] = s.tuning_cache;
        if (o.verbose) out["tuned_kernels"] = s.tuned_kernels;
      }
      out["activation_bytes"] = plan->stats().activation_bytes;
      out["execution_contexts"] = plan->execution_contexts();
    }
    std::cout << out.dump() << "\n";
  } else {
    const std::string callers =
        o.callers > 1 ? fmt::format(", {} callers x {} thread(s)", o.callers, threads_per_caller) : "";
    std::cout << fmt::format(
        "{} batch {} {}x{} {} {} threads {}{}: {:.2f} images/s, {:.2f} ms/batch (p50), {:.2f} ms (p99)\n",
        o.model.arch, o.batch, o.size, o.size,
        dtype_run == o.dtype ? o.dtype : fmt::format("{} (runs {}: faster here)", o.dtype, dtype_run),
        plan ? "plan" : "layer-by-layer", total_threads, callers, images_per_sec, p50, p99);
    if (plan && plan->options().tune) print_tuning(plan->stats(), compile_ms, o.verbose);
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
  cmd->add_option("--dtype", o->dtype, "compute precision: f32, bf16 or int8")->capture_default_str();
  cmd->add_flag("--no-fuse", o->no_fuse, "time the layer-by-layer model instead of the compiled plan");
  cmd->add_flag(
      "--no-winograd", o->no_winograd,
      "f32 plan (with --train: training's f32 convolutions): run 3x3 stride-1 convolutions directly "
      "instead of as Winograd F(4x4,3x3)");
  cmd->add_option("--sub-batch", o->sub_batch, "run the batch as passes of this many images (0: one pass)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--show-plan", o->show_plan,
                "print the compiled plan (primitives, layouts, buffers) to stderr");
  cmd->add_option("--iters", o->iters, "timed iterations")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "untimed iterations first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_threads_option(*cmd, o->threads);
  cmd->add_option("--callers", o->callers,
                  "threads calling one plan at once, each with its own --batch images; they share --threads")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "print one JSON object");
  add_tune_flags(*cmd, o->tune, true);
  cmd->get_option("--tune")->description(
      "time each convolution's candidate kernels at plan build and keep the fastest (cached per machine; "
      "default: on when the cache has this machine); with --train: only when given, on the first step, for "
      "every convolution pass");
  cmd->add_flag("--verbose", o->verbose,
                "with tuning: the kernel each convolution got and the times behind it");
  auto train = add_train_bench_flags(*cmd);  // --train: src/cli/bench_train.h
  cmd->callback([o, train, cmd] {
    const TrainBenchCommon common{o->model,   o->batch, o->size,         o->warmup,    o->iters,
                                  o->threads, o->json,  !o->no_winograd, o->tune.tune, o->verbose};
    if (!run_train_bench_if_asked(*cmd, *train, common)) run_bench(*o);
  });
}

}  // namespace resnet::cli
