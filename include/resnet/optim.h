// Optimizers (SGD, AdamW), learning-rate schedules and gradient clipping, with torch.optim's semantics (torch
// 1.13); tests/unit/test_optim.cpp and test_schedule.cpp compare them with torch itself.
//
//   std::vector<resnet::Parameter*> params = model.parameters();
//   resnet::Sgd sgd(params, {.momentum = 0.9, .weight_decay = 5e-4, .decay_bn_and_bias = false});
//   resnet::LrSchedule schedule = resnet::make_lr_schedule("cosine", 0.1, epochs, steps_per_epoch, 2);
//   for (int64_t step = 0; step < epochs * steps_per_epoch; ++step) {
//     sgd.set_lr(schedule.lr_at(step));
//     if (auto m = schedule.momentum_at(step)) sgd.set_momentum(*m);   // one-cycle only
//     model.zero_grad();  ... forward, loss, backward ...
//     resnet::clip_grad_norm(params, 5.0);                            // optional
//     sgd.step();
//   }
//
// Parameters and gradients are f32; a parameter whose grad is undefined is skipped by step() and by clipping,
// as torch skips parameters whose .grad is None (its state is not created or advanced either).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resnet/module.h"
#include "resnet/tensor.h"

namespace resnet {

// ---------------------------------------------------------------------------------------------------------------
// Optimizers

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, with the current lr.
  virtual void step() = 0;

  double lr() const { return lr_; }
  void set_lr(double lr);  // a schedule calls this before every step
  // Parameter i is updated with lr() * factor (torch: a param group whose lr is factor x the base lr, which
  // a schedule scales alike; discriminative fine-tuning gives the backbone its own rate). Default 1.
  void set_lr_factor(size_t i, double factor);
  double lr_of(size_t i) const { return lr_ * lr_factors_[i]; }
  // SGD: momentum; AdamW: beta1. What torch's OneCycleLR(cycle_momentum=True) changes every step.
  virtual void set_momentum(double momentum) = 0;
  int64_t steps() const { return steps_; }  // step() calls so far (restored by load_state_dict)
  const std::vector<Parameter*>& parameters() const { return params_; }

  // The state a resumed run needs, by name (tensors are copies):
  //   "step"                       i64 []  step() calls so far
  //   "<param>.momentum_buffer"    f32     SGD with momentum != 0
  //   "<param>.exp_avg", "<param>.exp_avg_sq" (+ "<param>.max_exp_avg_sq" with amsgrad)   f32   AdamW
  //   "<param>.step"               i64 []  AdamW: updates of this parameter (torch keeps one per parameter)
  // A parameter appears only once it has been updated (before that torch has no state for it either).
  StateDict state_dict() const;
  // Replaces the whole state by `state` (copied). Throws InputError, naming `source` (e.g. the checkpoint
  // file), for an unknown key, a parameter with part of its state, or a wrong shape or dtype.
  void load_state_dict(const StateDict& state, const std::string& source = "optimizer state");

 protected:
  // slot_names: the per-parameter state tensors (f32, shaped like the parameter); per_param_steps: whether
  // each parameter counts its own updates. Throws InputError for a negative lr or two parameters with one
  // name.
  Optimizer(std::vector<Parameter*> params, double lr, std::vector<std::string> slot_names,
            bool per_param_steps);

  // The weight decay that applies to `p`: 0 for BN parameters and biases when they are excluded.
  double weight_decay_for(const Parameter& p, double weight_decay, bool decay_bn_and_bias) const;
  // Slots of parameter i: undefined tensors until begin_update(i) creates them.
  std::vector<Tensor>& slots(size_t i) { return slots_[i]; }
  bool has_state(size_t i) const { return !slots_[i].empty() && slots_[i][0].defined(); }
  // step() calls this for each parameter it updates: creates the slots (zeros) if absent and returns the
  // parameter's update count including this one (1 on its first update).
  int64_t begin_update(size_t i);
  void count_step() { ++steps_; }

 private:
  std::vector<Parameter*> params_;
  double lr_;
  std::vector<double> lr_factors_;  // [param]
  std::vector<std::string> slot_names_;
  bool per_param_steps_;
  std::vector<std::vector<Tensor>> slots_;  // [param][slot]
  std::vector<int64_t> param_steps_;        // 0 = no state yet
  int64_t steps_ = 0;
};

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening 0 (as torch)
  // false: parameters with is_bn_or_bias get no weight decay (torch: a second param group with weight_decay
  // 0).
  bool decay_bn_and_bias = true;
};

// torch.optim.SGD, for each parameter p with gradient g (the first update sets buf = d):
//   d = g + wd * p;   buf = momentum * buf + (1 - dampening) * d;   d = nesterov ? d + momentum * buf : buf;
//   p -= lr * d
// (with momentum 0: p -= lr * (g + wd * p), and no buffer). Arithmetic in f32, like torch's.
class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<Parameter*> params, const SgdOptions& options);
  void step() override;
  void set_momentum(double momentum) override;
  const SgdOptions& options() const { return options_; }

 private:
  SgdOptions options_;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool decay_bn_and_bias = true;  // as SgdOptions
};

// torch.optim.AdamW, for each parameter p with gradient g, t = its update count (1, 2, ...):
//   p *= 1 - lr * wd;   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g;
//   (amsgrad: v_max = max(v_max, v), used for v below)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<Parameter*> params, const AdamWOptions& options);
  void step() override;
  void set_momentum(double beta1) override;
  const AdamWOptions& options() const { return options_; }

 private:
  AdamWOptions options_;
};

// ---------------------------------------------------------------------------------------------------------------
// Gradient clipping

// torch.nn.utils.clip_grad_norm_(params, max_norm) (2-norm): total = sqrt(sum of every squared gradient
// element over the parameters that have a gradient), summed in double in a fixed order (the same result for
// any thread count); if max_norm / (total + 1e-6) < 1, every gradient is multiplied by it. Returns total (0
// with no gradients). A non-finite total leaves the gradients as they are (the caller sees it and stops).
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);
// The same total norm without changing anything.
double grad_norm(const std::vector<Parameter*>& params);

// ---------------------------------------------------------------------------------------------------------------
// Learning-rate schedules

enum class LrScheduleKind { constant, step, multistep, cosine, onecycle };

// The learning rate as a function of the optimizer step, equal to torch.optim.lr_scheduler's value after that
// many scheduler.step() calls. Two parts:
//
// Warm-up (warmup_steps > 0), per optimizer step s < warmup_steps:
//   lr = base_lr * (warmup_start_factor + (1 - warmup_start_factor) * s / warmup_steps)
// as torch's LinearLR(start_factor=warmup_start_factor, total_iters=warmup_steps) stepped per optimizer step.
//
// Main schedule, a function of tick t = (s - warmup_steps) / steps_per_tick (integer division; starting at 0
// when warm-up ends, as torch's SequentialLR([LinearLR, main], milestones=[warmup_steps]) restarts `main`):
// the main scheduler is stepped once every steps_per_tick optimizer steps — steps_per_epoch for torch's usual
// per-epoch stepping, 1 for per-step. Lengths below (step_size, milestones, t_max, total_steps) are in ticks.
//   constant   base_lr
//   step       StepLR:       base_lr * gamma^(t / step_size)
//   multistep  MultiStepLR:  base_lr * gamma^(number of milestones <= t)   (a repeated milestone counts
//   twice) cosine     CosineAnnealingLR (closed form): eta_min + (base_lr - eta_min) * (1 + cos(pi * t /
//   t_max)) / 2
//              (past t_max it rises again, as torch's)
//   onecycle   OneCycleLR(max_lr=base_lr, total_steps, pct_start, anneal_strategy, div_factor,
//              final_div_factor, three_phase): from base_lr / div_factor up to base_lr at
//              pct_start * total_steps - 1, then down to base_lr / div_factor / final_div_factor at
//              total_steps - 1 (three_phase: up, back to the start, then down to the minimum); cosine or
//              linear annealing within each phase. Ticks at or past total_steps - 1 keep the final lr (torch
//              raises past total_steps). cycle_momentum: momentum_at() anneals between max_momentum and
//              base_momentum in the opposite direction, as torch sets the optimizer's momentum / beta1.
//              onecycle has its own warm-up (pct_start): warmup_steps must be 0.
struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::constant;
  double base_lr = 0.1;  // the optimizer's lr; onecycle: max_lr
  int64_t steps_per_tick = 1;

  int64_t step_size = 1;            // step
  std::vector<int64_t> milestones;  // multistep
  double gamma = 0.1;               // step, multistep
  int64_t t_max = 1;                // cosine
  double eta_min = 0.0;             // cosine
  int64_t total_steps = 1;          // onecycle
  double pct_start = 0.3;
  bool anneal_linear = false;  // onecycle: anneal_strategy="linear" instead of "cos"
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;

  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.1;

  // The lr of optimizer step `step` (0-based). Throws InputError if validate() would.
  double lr_at(int64_t step) const;
  // onecycle with cycle_momentum: the momentum (SGD) / beta1 (AdamW) of that step; otherwise nullopt.
  std::optional<double> momentum_at(int64_t step) const;
  // Throws InputError naming the field for a value torch would reject (or that divides by zero).
  void validate() const;
};

// The schedule the CLI's `--schedule NAME` means for `epochs` epochs of `steps_per_epoch` optimizer steps
// each, the first `warmup_epochs` of them a linear warm-up from lr * 0.1 (per step). The main schedule covers
// the remaining E = epochs - warmup_epochs epochs:
//   constant   lr throughout
//   step       per epoch, lr * 0.1 every max(1, E / 3) epochs (torchvision's recipe: 30 of 90)
//   multistep  per epoch, lr * 0.1 at 50% and 75% of E (He et al.'s CIFAR recipe: 32k and 48k of 64k)
//   cosine     per step, t_max = E * steps_per_epoch, eta_min 0
//   onecycle   per step, total_steps = E * steps_per_epoch, torch's defaults; no warm-up allowed
// Throws InputError for an unknown name or counts that leave no steps.
LrSchedule make_lr_schedule(std::string_view name, double lr, int64_t epochs, int64_t steps_per_epoch,
                            int64_t warmup_epochs = 0);
std::string_view lr_schedule_name(
    LrScheduleKind kind);  // "constant", "step", "multistep", "cosine", "onecycle"

}  // namespace resnet
