// Learning-rate schedules as closed forms of the optimizer step, equal to torch.optim.lr_scheduler's values
// (see optim.h for the exact definitions).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "resnet/error.h"
#include "resnet/optim.h"

namespace resnet {

namespace {

// One phase of OneCycleLR: annealing from the previous phase's end (or step 0) to end_step, in ticks.
struct OneCyclePhase {
  double end_step;
  double start_lr, end_lr;
  double start_momentum, end_momentum;
};

std::vector<OneCyclePhase> onecycle_phases(const LrSchedule& s) {
  const double total = double(s.total_steps);
  const double max_lr = s.base_lr;
  const double initial_lr = max_lr / s.div_factor;
  const double min_lr = initial_lr / s.final_div_factor;
  const double up_end = s.pct_start * total - 1.0;
  if (s.three_phase) {
    return {{up_end, initial_lr, max_lr, s.max_momentum, s.base_momentum},
            {2.0 * s.pct_start * total - 2.0, max_lr, initial_lr, s.base_momentum, s.max_momentum},
            {total - 1.0, initial_lr, min_lr, s.max_momentum, s.max_momentum}};
  }
  return {{up_end, initial_lr, max_lr, s.max_momentum, s.base_momentum},
          {total - 1.0, max_lr, min_lr, s.base_momentum, s.max_momentum}};
}

// OneCycleLR.get_lr at `tick`: {lr, momentum}. The phase search is torch's, floating-point ends included.
std::array<double, 2> onecycle_at(const LrSchedule& s, int64_t tick) {
  const double step = double(std::min(tick, s.total_steps - 1));
  const std::vector<OneCyclePhase> phases = onecycle_phases(s);
  double start_step = 0.0;
  for (size_t i = 0; i < phases.size(); ++i) {
    const OneCyclePhase& phase = phases[i];
    if (step <= phase.end_step || i + 1 == phases.size()) {
      const double pct = (step - start_step) / (phase.end_step - start_step);
      const auto anneal = [&](double start, double end) {
        if (s.anneal_linear) return (end - start) * pct + start;
        return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
      };
      return {anneal(phase.start_lr, phase.end_lr), anneal(phase.start_momentum, phase.end_momentum)};
    }
    start_step = phase.end_step;
  }
  throw InternalError("OneCycleLR: no phase");  // unreachable: the last phase always matches
}

void require(bool ok, const std::string& what) {
  if (!ok) throw InputError("lr schedule: " + what);
}

}  // namespace

void LrSchedule::validate() const {
  require(std::isfinite(base_lr) && base_lr >= 0.0, fmt::format("invalid lr {}", base_lr));
  require(steps_per_tick >= 1, fmt::format("steps per tick must be >= 1, got {}", steps_per_tick));
  require(warmup_steps >= 0, fmt::format("warm-up steps must be >= 0, got {}", warmup_steps));
  if (warmup_steps > 0) {
    require(warmup_start_factor > 0.0 && warmup_start_factor <= 1.0,
            fmt::format("warm-up start factor must be in (0, 1], got {}", warmup_start_factor));
    require(kind != LrScheduleKind::onecycle,
            "onecycle has its own warm-up (pct_start); use no linear warm-up");
  }
  switch (kind) {
    case LrScheduleKind::constant:
      break;
    case LrScheduleKind::step:
      require(step_size >= 1, fmt::format("step size must be >= 1, got {}", step_size));
      require(std::isfinite(gamma) && gamma > 0.0, fmt::format("invalid gamma {}", gamma));
      break;
    case LrScheduleKind::multistep:
      require(std::isfinite(gamma) && gamma > 0.0, fmt::format("invalid gamma {}", gamma));
      for (int64_t m : milestones) require(m >= 0, fmt::format("milestones must be >= 0, got {}", m));
      break;
    case LrScheduleKind::cosine:
      require(t_max >= 1, fmt::format("cosine t_max must be >= 1, got {}", t_max));
      require(std::isfinite(eta_min) && eta_min >= 0.0, fmt::format("invalid eta_min {}", eta_min));
      break;
    case LrScheduleKind::onecycle: {
      require(total_steps >= 1, fmt::format("onecycle total steps must be >= 1, got {}", total_steps));
      require(pct_start >= 0.0 && pct_start <= 1.0,
              fmt::format("pct_start must be in [0, 1], got {}", pct_start));
      require(div_factor > 0.0 && final_div_factor > 0.0,
              fmt::format("div factors must be positive, got {} and {}", div_factor, final_div_factor));
      // torch divides by each phase's length; a phase of length 0 is a division by zero there.
      double start = 0.0;
      for (const OneCyclePhase& phase : onecycle_phases(*this)) {
        require(phase.end_step != start,
                fmt::format("onecycle with {} total steps and pct_start {} has an empty phase", total_steps,
                            pct_start));
        start = phase.end_step;
      }
      break;
    }
  }
}

double LrSchedule::lr_at(int64_t step) const {
  validate();
  require(step >= 0, fmt::format("step must be >= 0, got {}", step));
  if (step < warmup_steps) {
    return base_lr *
           (warmup_start_factor + (1.0 - warmup_start_factor) * double(step) / double(warmup_steps));
  }
  const int64_t tick = (step - warmup_steps) / steps_per_tick;
  switch (kind) {
    case LrScheduleKind::constant:
      return base_lr;
    case LrScheduleKind::step:
      return base_lr * std::pow(gamma, double(tick / step_size));
    case LrScheduleKind::multistep: {
      const auto passed =
          std::count_if(milestones.begin(), milestones.end(), [&](int64_t m) { return m <= tick; });
      return base_lr * std::pow(gamma, double(passed));
    }
    case LrScheduleKind::cosine:
      return eta_min +
             (base_lr - eta_min) * (1.0 + std::cos(std::numbers::pi * double(tick) / double(t_max))) / 2.0;
    case LrScheduleKind::onecycle:
      return onecycle_at(*this, tick)[0];
  }
  throw InternalError("lr schedule: unknown kind");
}

std::optional<double> LrSchedule::momentum_at(int64_t step) const {
  if (kind != LrScheduleKind::onecycle || !cycle_momentum) return std::nullopt;
  validate();
  require(step >= 0, fmt::format("step must be >= 0, got {}", step));
  return onecycle_at(*this, step / steps_per_tick)[1];
}

std::string_view lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::constant:
      return "constant";
    case LrScheduleKind::step:
      return "step";
    case LrScheduleKind::multistep:
      return "multistep";
    case LrScheduleKind::cosine:
      return "cosine";
    case LrScheduleKind::onecycle:
      return "onecycle";
  }
  return "?";
}

LrSchedule make_lr_schedule(std::string_view name, double lr, int64_t epochs, int64_t steps_per_epoch,
                            int64_t warmup_epochs) {
  LrSchedule s;
  bool known = false;
  for (LrScheduleKind kind : {LrScheduleKind::constant, LrScheduleKind::step, LrScheduleKind::multistep,
                              LrScheduleKind::cosine, LrScheduleKind::onecycle}) {
    if (name == lr_schedule_name(kind)) {
      s.kind = kind;
      known = true;
    }
  }
  require(known, fmt::format("unknown schedule '{}' (constant, step, multistep, cosine, onecycle)", name));
  require(steps_per_epoch >= 1, fmt::format("steps per epoch must be >= 1, got {}", steps_per_epoch));
  require(warmup_epochs >= 0 && warmup_epochs < epochs,
          fmt::format("{} warm-up epochs leave no epoch of the {} for the schedule", warmup_epochs, epochs));
  const int64_t main_epochs = epochs - warmup_epochs;
  s.base_lr = lr;
  s.warmup_steps = warmup_epochs * steps_per_epoch;
  switch (s.kind) {
    case LrScheduleKind::constant:
      break;
    case LrScheduleKind::step:
      s.steps_per_tick = steps_per_epoch;
      s.step_size = std::max<int64_t>(1, main_epochs / 3);
      break;
    case LrScheduleKind::multistep:
      s.steps_per_tick = steps_per_epoch;
      for (int64_t m : {main_epochs / 2, main_epochs * 3 / 4}) {
        if (m >= 1 && (s.milestones.empty() || s.milestones.back() != m)) s.milestones.push_back(m);
      }
      break;
    case LrScheduleKind::cosine:
      s.t_max = main_epochs * steps_per_epoch;
      break;
    case LrScheduleKind::onecycle:
      s.total_steps = main_epochs * steps_per_epoch;
      break;
  }
  s.validate();
  return s;
}

}  // namespace resnet
