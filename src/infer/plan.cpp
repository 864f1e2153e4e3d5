// InferencePlan: lower the model once (BN folded), then per input shape: shape the program, let oneDNN pick
// primitives and layouts (src/infer/onednn/plan_kernels), lay the activations out in one arena by their
// lifetimes, and bind.
//
// Concurrency: the primitives, layouts and weights are made once and only read by runs. What a run writes —
// the arena, oneDNN's scratchpad, the Winograd buffer, the stream — is an execution context: each run takes
// an idle one from the plan's pool (or makes one: the kernels cloned and bound to a new arena) and gives it
// back, so run() may be called from many threads at once and the pool holds as many contexts as there were
// concurrent runs.
#include "resnet/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/aligned_bytes.h"
#include "infer/buffer_planner.h"
#include "infer/lower.h"
#include "infer/onednn/conv_tuner.h"
#include "infer/onednn/plan_kernels.h"
#include "infer/plan_compiler.h"
#include "infer/program.h"
#include "infer/quantize_program.h"
#include "infer/tuning_cache.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/unet.h"

namespace resnet {

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::f32:
      return "f32";
    case Precision::bf16:
      return "bf16";
    case Precision::int8:
      return "int8";
  }
  return "?";
}

std::string default_tuning_cache_path() {
  return infer::default_tuning_cache_path();
}

bool tuning_cache_has_this_machine(const std::string& path) {
  const std::string file = path.empty() ? infer::default_tuning_cache_path() : path;
  if (file.empty() || !std::filesystem::exists(file)) return false;
  return infer::TuningCache(file, /*warn=*/false).has_machine(infer::tuning_machine_key());
}

Precision parse_precision(std::string_view text, std::string_view flag) {
  if (text == "f32") return Precision::f32;
  if (text == "bf16") return Precision::bf16;
  if (text == "int8") return Precision::int8;
  throw InputError(fmt::format("{} {}: expected f32, bf16 or int8", flag, text));
}

namespace {

// The primitives and buffer layout for one batch size.
struct Pass {
  int64_t batch = 0;
  infer::ShapedProgram shaped;
  std::unique_ptr<infer::PlanKernels> kernels;  // never bound: each execution context binds a clone
  std::vector<infer::BufferRequest> buffers;    // one per value
  infer::BufferLayout layout;
};

// What one run writes: the activation arena and, per pass, the pass's kernels bound to it (each with its own
// scratchpad, Winograd buffer and stream).
struct ExecutionContext {
  AlignedBytes arena{nullptr, &std::free};
  std::vector<std::unique_ptr<infer::PlanKernels>> passes;
};

}  // namespace

struct InferencePlan::Impl {
  // Shared by every plan reshaped from the same compile: the folded program and the reordered weights.
  std::shared_ptr<const infer::Program> program;
  std::shared_ptr<infer::PlanWeights> weights;
  Precision requested = Precision::f32;  // what compile() was asked for
  Precision precision = Precision::f32;  // what runs: f32 when tuning found it faster than a requested bf16
  PlanOptions options;
  Shape input_shape;
  // passes[0] runs the sub-batches (or the whole batch); passes[1], if any, the remainder. They run one after
  // the other and share the arena.
  std::vector<Pass> passes;
  std::vector<std::pair<size_t, int64_t>> schedule;  // (pass, first image)
  size_t arena_bytes = 0;
  PlanStats stats;
  // The execution contexts not running now, and how many were made.
  std::mutex pool_mutex;
  std::vector<std::unique_ptr<ExecutionContext>> idle_contexts;
  int64_t contexts = 0;

  // A new context: a clone of every pass's kernels, bound to a new arena (weights from the shared store).
  std::unique_ptr<ExecutionContext> new_context() const {
    auto context = std::make_unique<ExecutionContext>();
    context->arena = allocate_aligned_bytes(arena_bytes);
    for (const Pass& pass : passes) {
      context->passes.push_back(pass.kernels->clone());
      context->passes.back()->bind(context->arena.get(), pass.layout.offsets, *weights);
    }
    return context;
  }

  // Runs body(context) on an idle execution context (a new one when all are running) and gives it back.
  template <class Body>
  void with_context(Body&& body) {
    std::unique_ptr<ExecutionContext> context;
    {
      std::lock_guard lock(pool_mutex);
      if (!idle_contexts.empty()) {
        context = std::move(idle_contexts.back());
        idle_contexts.pop_back();
      }
    }
    if (!context) {
      context = new_context();  // outside the lock: other runs go on meanwhile
      std::lock_guard lock(pool_mutex);
      ++contexts;
    }
    auto give_back = [&] {
      std::lock_guard lock(pool_mutex);
      idle_contexts.push_back(std::move(context));
    };
    try {
      body(*context);
    } catch (...) {
      give_back();  // an interrupted run leaves nothing a later run reads before writing it
      throw;
    }
    give_back();
  }
};

namespace {

// The images' shape as the program takes it, [N, H, W, C], from the caller's layout.
Shape nhwc_shape(const Shape& images, ImageLayout layout) {
  if (layout == ImageLayout::nhwc || images.size() != 4) return images;  // shape_program judges other ranks
  return {images[0], images[2], images[3], images[1]};
}

std::string mib(size_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

// Primitives for `batch` images of the plan's input shape, and the layout of their activations.
// tuner: null unless options.tune.
Pass compile_pass(const infer::Program& program, Precision precision, const PlanOptions& options, Shape shape,
                  int64_t batch, infer::ConvTuner* tuner) {
  Pass pass;
  pass.batch = batch;
  shape[0] = batch;
  pass.shaped = infer::shape_program(program, shape);
  pass.kernels =
      std::make_unique<infer::PlanKernels>(program, pass.shaped, precision, infer::ActivationLayout::chosen,
                                           options.winograd, options.input_layout, tuner);
  if (pass.kernels->reference_kernels() > 0) {
    // Some layer has no optimized kernel for the layouts oneDNN picked: try NHWC throughout, keep the better.
    auto nhwc = std::make_unique<infer::PlanKernels>(program, pass.shaped, precision,
                                                     infer::ActivationLayout::channels_last, options.winograd,
                                                     options.input_layout, tuner);
    if (nhwc->reference_kernels() < pass.kernels->reference_kernels()) pass.kernels = std::move(nhwc);
  }
  const std::vector<infer::Lifetime> lives = infer::value_lifetimes(program);
  const std::vector<size_t>& bytes = pass.kernels->value_bytes();
  for (size_t v = 0; v < lives.size(); ++v) pass.buffers.push_back({bytes[v], lives[v].first, lives[v].last});
  pass.layout = infer::plan_buffers(pass.buffers);
  return pass;
}

// The tuning cache's name for a program: FNV-1a over its steps' kinds, names and weight shapes (a choice made
// for the whole plan holds for this model only).
std::string program_fingerprint(const infer::Program& program) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&](std::string_view text) {
    for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  };
  for (const infer::Step& step : program.steps) {
    mix(fmt::format("{}|{}|{}|", static_cast<int>(step.kind), step.name, shape_str(step.weight.shape())));
  }
  return fmt::format("{} steps, {} -> {} channels, {:016x}", program.steps.size(), program.in_channels,
                     program.num_classes, hash);
}

// One synchronous run of a pass for `batch` images, on zero-filled images, with an arena, weights and outputs
// of its own: a candidate to time.
std::function<void()> pass_runner(const infer::Program& program, Precision precision,
                                  const PlanOptions& options, const Shape& images, int64_t batch) {
  struct Bench {
    Pass pass;
    std::shared_ptr<infer::PlanWeights> weights = infer::make_plan_weights();
    AlignedBytes arena{nullptr, &std::free};
    std::vector<float> x, logits;
    std::vector<std::vector<float>> outputs;
    std::vector<float*> output_data;
  };
  auto b = std::make_shared<Bench>();
  b->pass = compile_pass(program, precision, options, images, batch, nullptr);
  b->arena = allocate_aligned_bytes(b->pass.layout.arena_bytes);
  b->pass.kernels->bind(b->arena.get(), b->pass.layout.offsets, *b->weights);
  b->x.assign(static_cast<size_t>(shape_numel(images) / images[0] * batch), 0.0f);
  b->logits.assign(static_cast<size_t>(batch * std::max<int64_t>(program.num_classes, 1)), 0.0f);
  for (const infer::ProgramOutput& out : program.outputs) {
    b->outputs.emplace_back(static_cast<size_t>(shape_numel(b->pass.shaped.value_shapes[size_t(out.value)])));
    b->output_data.push_back(b->outputs.back().data());
  }
  return [b, &program] {
    b->pass.kernels->run(b->x.data(), program.output >= 0 ? b->logits.data() : nullptr, b->output_data, {});
  };
}

// PlanOptions::tune on a bf16 plan: bf16 or f32 for the whole plan, whichever runs a pass faster on this
// machine (issue 17: more accurate and faster is allowed). Where bf16 convolutions are slower than f32 ones
// (AVX512-BF16 without AMX: oneDNN's jit_bf16 kernels), they are slower at every layer, so the choice is the
// plan's, not a layer's: switching type per layer would add a reorder at each switch.
Precision faster_of_bf16_and_f32(const infer::Program& program, const PlanOptions& options,
                                 const Shape& images, int64_t batch, infer::ConvTuner& tuner) {
  std::vector<infer::ConvCandidate> candidates;
  for (const Precision p : {Precision::bf16, Precision::f32}) {
    candidates.push_back(
        {std::string(precision_name(p)), [&, p] { return pass_runner(program, p, options, images, batch); }});
  }
  const std::string key = fmt::format("plan {} input {}x{}x{}x{}: bf16 or f32", program_fingerprint(program),
                                      batch, images[3], images[1], images[2]);
  return parse_precision(tuner.choose("plan", key, candidates));
}

}  // namespace

InferencePlan::InferencePlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InferencePlan::InferencePlan(InferencePlan&&) noexcept = default;
InferencePlan& InferencePlan::operator=(InferencePlan&&) noexcept = default;
InferencePlan::~InferencePlan() = default;

InferencePlan InferencePlan::compile(ResNet& model, Precision precision, const Shape& input_shape,
                                     const PlanOptions& options) {
  return infer::PlanCompiler::compile(infer::lower_resnet(model), precision, input_shape, options);
}

InferencePlan InferencePlan::compile_features(ResNet& model, const std::vector<std::string>& stages,
                                              Precision precision, const Shape& input_shape,
                                              const PlanOptions& options) {
  if (precision == Precision::int8) {
    throw InputError("an int8 inference plan computes logits only: compute features with f32 or bf16");
  }
  return infer::PlanCompiler::compile(infer::lower_resnet_features(model, stages), precision, input_shape,
                                      options);
}

InferencePlan InferencePlan::compile(UNet& model, Precision precision, const Shape& input_shape,
                                     const PlanOptions& options) {
  const UNetConfig& config = model.config();
  if (precision == Precision::int8) {
    throw InputError(
        fmt::format("{}: no int8 inference plan for a U-Net (its upsample and concat steps "
                    "have no int8 kernels): use --dtype f32 or bf16",
                    config.name));
  }
  const int64_t multiple = int64_t{1} << config.encoder_depth;
  const Shape images = nhwc_shape(input_shape, options.input_layout);
  if (images.size() == 4 && (images[1] % multiple != 0 || images[2] % multiple != 0)) {
    throw InputError(
        fmt::format("{}: input height and width must be multiples of {} (2^encoder_depth, depth {}), "
                    "got {}x{}",
                    config.name, multiple, config.encoder_depth, images[1], images[2]));
  }
  return infer::PlanCompiler::compile(infer::lower_unet(model), precision, input_shape, options);
}

InferencePlan infer::PlanCompiler::compile(Program program, Precision precision, const Shape& input_shape,
                                           const PlanOptions& options) {
  if (options.sub_batch < 0) {
    throw InputError(fmt::format("inference plan: sub-batch {} must be >= 0", options.sub_batch));
  }
  if ((precision == Precision::int8) != (options.int8 != nullptr)) {
    throw InputError(precision == Precision::int8
                         ? "an int8 inference plan needs calibrated activation scales (resnet quantize)"
                         : "int8 calibration given for a plan that is not int8");
  }
  if (program.output < 0 && program.outputs.empty()) {
    throw InternalError("inference plan: the program has neither logits nor named outputs");
  }
  auto impl = std::make_unique<InferencePlan::Impl>();
  if (options.int8) quantize_program(program, *options.int8);
  impl->program = std::make_shared<const Program>(std::move(program));
  impl->weights = make_plan_weights();
  impl->requested = precision;
  impl->precision = precision;
  impl->options = options;
  InferencePlan plan(std::move(impl));
  return plan.reshaped(input_shape);
}

InferencePlan InferencePlan::reshaped(const Shape& input_shape) const {
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.program = impl_->program;
  m.weights = impl_->weights;
  m.requested = impl_->requested;
  m.precision = impl_->requested;
  m.options = impl_->options;
  m.input_shape = input_shape;
  const Shape images = nhwc_shape(input_shape, m.options.input_layout);
  infer::shape_program(*m.program, images);  // validates the whole shape first

  const int64_t n = images[0];
  const int64_t sub = m.options.sub_batch > 0 ? std::min(m.options.sub_batch, n) : n;
  std::optional<infer::TuningCache> cache;
  std::optional<infer::ConvTuner> tuner;
  if (m.options.tune) {
    cache.emplace(m.options.tuning_cache);
    tuner.emplace(*cache);
  }
  infer::ConvTuner* tuning = tuner ? &*tuner : nullptr;
  const bool choose_precision = tuner && m.requested == Precision::bf16;
  if (choose_precision) m.precision = faster_of_bf16_and_f32(*m.program, m.options, images, sub, *tuner);
  m.passes.push_back(compile_pass(*m.program, m.precision, m.options, images, sub, tuning));
  if (n % sub != 0)
    m.passes.push_back(compile_pass(*m.program, m.precision, m.options, images, n % sub, tuning));
  if (tuner) {
    cache->save();
    m.stats.tuned_kernels = tuner->choices();
    m.stats.tuned_convolutions =
        static_cast<int64_t>(m.stats.tuned_kernels.size()) - (choose_precision ? 1 : 0);
    m.stats.tuning_cache_hits = tuner->cache_hits();
    m.stats.tuning_timings = tuner->timings();
    m.stats.tuning_cache = cache->path();
  }
  for (int64_t first = 0; first < n; first += sub) m.schedule.emplace_back(first + sub <= n ? 0 : 1, first);

  for (const Pass& pass : m.passes) m.arena_bytes = std::max(m.arena_bytes, pass.layout.arena_bytes);
  // The first execution context now (its binding reorders the weights); more when runs overlap.
  m.idle_contexts.push_back(m.new_context());
  m.contexts = 1;
  const ExecutionContext& first_context = *m.idle_contexts.front();

  const Pass& main = m.passes.front();
  m.stats.primitives = main.kernels->primitives();
  m.stats.winograd_convolutions = main.kernels->winograd_steps();
  m.stats.passes = static_cast<int64_t>(m.schedule.size());
  m.stats.fused_residuals = std::count_if(m.program->steps.begin(), m.program->steps.end(),
                                          [](const infer::Step& s) { return s.accumulate; });
  m.stats.activation_bytes = m.arena_bytes;
  m.stats.activation_live_peak = infer::live_set_peak(main.buffers);
  for (const infer::BufferRequest& b : main.buffers) m.stats.activation_sum_bytes += b.bytes;
  for (const auto& kernels : first_context.passes) {
    m.stats.weight_bytes = std::max(m.stats.weight_bytes, kernels->weight_bytes());
    m.stats.weight_reorders += kernels->weight_reorders();
  }
  return InferencePlan(std::move(impl));
}

Tensor InferencePlan::run(const Tensor& x) {
  Tensor logits = Tensor::empty(output_shape());
  run(x, logits);
  return logits;
}

void InferencePlan::run(const Tensor& x, Tensor& logits) {
  run_observed(x, logits, {});
}

namespace {

void check_input(const Tensor& x, const Shape& compiled) {
  if (x.shape() != compiled || x.dtype() != DType::f32) {
    throw InputError(fmt::format("inference plan: compiled for f32 {}, got {} {}", shape_str(compiled),
                                 dtype_name(x.dtype()), shape_str(x.shape())));
  }
}

}  // namespace

std::vector<Tensor> InferencePlan::run_features(const Tensor& x) {
  const infer::Program& program = *impl_->program;
  if (program.outputs.empty()) {
    throw InputError("inference plan: run_features on a classifier plan (compile it with compile_features)");
  }
  check_input(x, impl_->input_shape);
  std::vector<Tensor> features;
  for (const Shape& shape : output_shapes()) features.push_back(Tensor::empty(shape));
  const int64_t per_image = x.numel() / x.dim(0);
  std::vector<float*> targets(features.size());
  impl_->with_context([&](ExecutionContext& context) {
    for (const auto& [pass, first] : impl_->schedule) {
      for (size_t o = 0; o < features.size(); ++o)
        targets[o] = features[o].f32() + first * (features[o].numel() / x.dim(0));
      context.passes[pass]->run(x.f32() + first * per_image, nullptr, targets);
    }
  });
  return features;
}

void InferencePlan::run(const float* images, Tensor& logits) {
  if (images == nullptr) throw InputError("inference plan: run on null images");
  run_images(images, logits, {});
}

void InferencePlan::run_observed(const Tensor& x, Tensor& logits, const StepObserver& observer) {
  check_input(x, impl_->input_shape);
  run_images(x.f32(), logits, observer);
}

void InferencePlan::run_images(const float* x, Tensor& logits, const StepObserver& observer) {
  if (logits.shape() != output_shape() || logits.dtype() != DType::f32) {
    throw InputError(fmt::format("inference plan: logits must be f32 {}, got {} {}",
                                 shape_str(output_shape()), dtype_name(logits.dtype()),
                                 shape_str(logits.shape())));
  }
  if (observer && impl_->precision != Precision::f32) {
    throw InputError(fmt::format("inference plan: run_observed needs an f32 plan, this one is {}",
                                 precision_name(impl_->precision)));
  }
  const int64_t per_image = shape_numel(impl_->input_shape) / impl_->input_shape[0];
  const int64_t logits_per_image = logits.numel() / logits.dim(0);
  const infer::Program& program = *impl_->program;
  infer::PlanKernels::Observer step_observer;
  if (observer) {
    step_observer = [&](int step, const Tensor& value) {
      observer(step < 0 ? std::string_view("input") : std::string_view(program.steps[size_t(step)].name),
               value);
    };
  }
  impl_->with_context([&](ExecutionContext& context) {
    for (const auto& [pass, first] : impl_->schedule) {
      float* logits_at = logits.f32() + first * logits_per_image;
      infer::PlanKernels& kernels = *context.passes[pass];
      if (program.pixel_logits) {  // the one named output, copied out of the plan's layout
        kernels.run(x + first * per_image, nullptr, {logits_at}, step_observer);
      } else {
        kernels.run(x + first * per_image, logits_at, {}, step_observer);
      }
    }
  });
}

int64_t InferencePlan::execution_contexts() const {
  std::lock_guard lock(impl_->pool_mutex);
  return impl_->contexts;
}

const Shape& InferencePlan::input_shape() const {
  return impl_->input_shape;
}

Shape InferencePlan::output_shape() const {
  if (impl_->program->pixel_logits) return output_shapes().front();
  if (impl_->program->output < 0) {
    throw InputError("inference plan: a feature plan has no logits (see output_shapes())");
  }
  return {impl_->input_shape[0], impl_->program->num_classes};
}

std::vector<std::string> InferencePlan::output_names() const {
  const infer::Program& program = *impl_->program;
  if (program.outputs.empty()) return {"logits"};
  std::vector<std::string> names;
  for (const infer::ProgramOutput& out : program.outputs) names.push_back(out.name);
  return names;
}

std::vector<Shape> InferencePlan::output_shapes() const {
  const infer::Program& program = *impl_->program;
  if (program.outputs.empty()) return {output_shape()};
  std::vector<Shape> shapes;
  for (const infer::ProgramOutput& out : program.outputs) {
    Shape shape = impl_->passes.front().shaped.value_shapes[static_cast<size_t>(out.value)];
    shape[0] = impl_->input_shape[0];
    shapes.push_back(shape);
  }
  return shapes;
}

Precision InferencePlan::precision() const {
  return impl_->precision;
}

const PlanStats& InferencePlan::stats() const {
  return impl_->stats;
}

const PlanOptions& InferencePlan::options() const {
  return impl_->options;
}

std::string InferencePlan::describe() const {
  const Impl& m = *impl_;
  const PlanStats& s = m.stats;
  const Pass& pass = m.passes.front();
  std::string out = fmt::format(
      "inference plan {} input {}: {} pass(es) of {} image(s), {} primitives each, {} residual joins fused; "
      "activations {} in one arena (largest live set {}, without reuse {}); weights {}; scratchpad {}\n",
      precision_name(m.precision),
      shape_str(m.input_shape) + (m.options.input_layout == ImageLayout::nchw ? " (NCHW)" : ""), s.passes,
      pass.batch, s.primitives, s.fused_residuals, mib(s.activation_bytes), mib(s.activation_live_peak),
      mib(s.activation_sum_bytes), mib(s.weight_bytes), mib(pass.kernels->scratchpad_bytes()));
  auto at = [&](int v) {
    return v == m.program->output ? fmt::format("v{}@caller", v)
                                  : fmt::format("v{}@{}", v, pass.layout.offsets[static_cast<size_t>(v)]);
  };
  out += fmt::format("  0 {} {}\n", pass.kernels->describe_input(), at(m.program->input));
  for (size_t i = 0; i < m.program->steps.size(); ++i) {
    const infer::Step& step = m.program->steps[i];
    const std::string sources =
        step.kind == infer::StepKind::concat ? at(step.src) + " + " + at(step.src2) : at(step.src);
    out += fmt::format("  {} {} {} -> {}\n", i + 1, pass.kernels->describe_step(i), sources, at(step.dst));
  }
  for (size_t o = 0; o < m.program->outputs.size(); ++o) {
    out += fmt::format("  {} {} {} -> caller\n", m.program->steps.size() + 1 + o,
                       pass.kernels->describe_output(o), at(m.program->outputs[o].value));
  }
  return out;
}

}  // namespace resnet
