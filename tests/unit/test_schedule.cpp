// Learning-rate schedules: the same lr (and one-cycle momentum) sequences as torch.optim.lr_scheduler
// (fixtures by tests/oracle/make_optim_fixtures.py), and the CLI's named recipes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>

#include "input_error.h"
#include "resnet/error.h"
#include "resnet/optim.h"
#include "unit/optim_oracle.h"

namespace resnet {
namespace {

using nlohmann::json;
using optim_oracle::manifest;
using test::expect_input_error;

LrScheduleKind kind_named(const std::string& name) {
  for (LrScheduleKind kind : {LrScheduleKind::constant, LrScheduleKind::step, LrScheduleKind::multistep,
                              LrScheduleKind::cosine, LrScheduleKind::onecycle}) {
    if (lr_schedule_name(kind) == name) return kind;
  }
  throw std::runtime_error("no schedule " + name);
}

LrSchedule schedule_from(const json& spec) {
  LrSchedule s;
  s.kind = kind_named(spec["kind"]);
  s.base_lr = spec["base_lr"];
  s.steps_per_tick = spec["steps_per_tick"];
  s.step_size = spec["step_size"];
  s.milestones = spec["milestones"].get<std::vector<int64_t>>();
  s.gamma = spec["gamma"];
  s.t_max = spec["t_max"];
  s.eta_min = spec["eta_min"];
  s.total_steps = spec["total_steps"];
  s.pct_start = spec["pct_start"];
  s.anneal_linear = spec["anneal_linear"];
  s.div_factor = spec["div_factor"];
  s.final_div_factor = spec["final_div_factor"];
  s.three_phase = spec["three_phase"];
  s.cycle_momentum = spec["cycle_momentum"];
  s.base_momentum = spec["base_momentum"];
  s.max_momentum = spec["max_momentum"];
  s.warmup_steps = spec["warmup_steps"];
  s.warmup_start_factor = spec["warmup_start_factor"];
  return s;
}

// |ours - torch| relative to the schedule's scale (base_lr), which also covers values near eta_min or 0.
TEST(ScheduleOracle, LrSequencesEqualTorchSchedulers) {
  REQUIRE_OPTIM_ORACLE();
  double worst = 0.0;
  for (const json& c : manifest()["schedules"]) {
    SCOPED_TRACE(c["case"].get<std::string>());
    const LrSchedule schedule = schedule_from(c["spec"]);
    const bool cycles = schedule.kind == LrScheduleKind::onecycle && schedule.cycle_momentum;
    for (size_t step = 0; step < c["lrs"].size(); ++step) {
      const double torch_lr = c["lrs"][step];
      const double diff = std::abs(schedule.lr_at(int64_t(step)) - torch_lr) / schedule.base_lr;
      EXPECT_LE(diff, 1e-12) << "step " << step << ": ours " << schedule.lr_at(int64_t(step)) << ", torch "
                             << torch_lr;
      worst = std::max(worst, diff);
      const std::optional<double> momentum = schedule.momentum_at(int64_t(step));
      ASSERT_EQ(momentum.has_value(), cycles);
      if (cycles) {
        EXPECT_NEAR(*momentum, c["momenta"][step].get<double>(), 1e-12) << "step " << step;
      }
    }
  }
  std::cout << "schedules vs torch: max |lr difference| / base_lr " << worst << "\n";
}

TEST(Schedule, NamedRecipesFollowTheRunLength) {
  // 10 epochs of 5 steps, the first 2 epochs warm-up: the main schedule has 8 epochs = 40 steps.
  const LrSchedule cosine = make_lr_schedule("cosine", 0.2, 10, 5, 2);
  EXPECT_EQ(cosine.warmup_steps, 10);
  EXPECT_EQ(cosine.t_max, 40);
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 0.02);
  EXPECT_DOUBLE_EQ(cosine.lr_at(5), 0.02 + 0.18 * 0.5);
  EXPECT_DOUBLE_EQ(cosine.lr_at(10), 0.2);
  EXPECT_NEAR(cosine.lr_at(30), 0.1, 1e-15);
  EXPECT_GT(cosine.lr_at(49), 0.0);
  EXPECT_LT(cosine.lr_at(49), 0.001);

  const LrSchedule multistep = make_lr_schedule("multistep", 0.1, 10, 5, 2);
  EXPECT_EQ(multistep.milestones, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(multistep.steps_per_tick, 5);
  EXPECT_DOUBLE_EQ(multistep.lr_at(10 + 4 * 5 - 1), 0.1);
  EXPECT_NEAR(multistep.lr_at(10 + 4 * 5), 0.01, 1e-17);
  EXPECT_NEAR(multistep.lr_at(10 + 6 * 5), 0.001, 1e-18);

  const LrSchedule step = make_lr_schedule("step", 0.1, 90, 1);
  EXPECT_EQ(step.step_size, 30);
  EXPECT_NEAR(step.lr_at(89), 0.001, 1e-18);

  const LrSchedule onecycle = make_lr_schedule("onecycle", 0.5, 4, 25);
  EXPECT_EQ(onecycle.total_steps, 100);
  EXPECT_NEAR(onecycle.lr_at(0), 0.5 / 25, 1e-16);
  EXPECT_DOUBLE_EQ(onecycle.lr_at(29), 0.5);
  EXPECT_DOUBLE_EQ(onecycle.lr_at(99), 0.5 / 25 / 1e4);
  EXPECT_DOUBLE_EQ(*onecycle.momentum_at(29), 0.85);

  const LrSchedule constant = make_lr_schedule("constant", 0.3, 3, 7);
  EXPECT_DOUBLE_EQ(constant.lr_at(20), 0.3);
  EXPECT_FALSE(constant.momentum_at(20).has_value());
}

TEST(Schedule, OneCycleKeepsItsFinalLrPastTheEnd) {
  LrSchedule s{.kind = LrScheduleKind::onecycle, .base_lr = 1.0, .total_steps = 20};
  const double last = s.lr_at(19);
  EXPECT_DOUBLE_EQ(last, 1.0 / 25 / 1e4);
  EXPECT_EQ(s.lr_at(20), last);
  EXPECT_EQ(s.lr_at(1000), last);
  EXPECT_EQ(*s.momentum_at(1000), 0.95);
}

TEST(Schedule, RejectsSchedulesTorchWouldRejectOrDivideByZero) {
  expect_input_error([] { make_lr_schedule("exponential", 0.1, 10, 10); }, "unknown schedule 'exponential'");
  expect_input_error([] { make_lr_schedule("cosine", 0.1, 5, 10, 5); }, "5 warm-up epochs leave no epoch");
  expect_input_error([] { make_lr_schedule("onecycle", 0.1, 5, 10, 1); }, "onecycle has its own warm-up");
  expect_input_error([] { make_lr_schedule("step", 0.1, 5, 0); }, "steps per epoch");
  expect_input_error([] { LrSchedule{.kind = LrScheduleKind::step, .step_size = 0}.lr_at(0); }, "step size");
  expect_input_error([] { LrSchedule{.kind = LrScheduleKind::cosine, .t_max = 0}.lr_at(0); }, "t_max");
  expect_input_error(
      [] { LrSchedule{.kind = LrScheduleKind::onecycle, .total_steps = 2, .pct_start = 0.5}.lr_at(0); },
      "empty phase");
  expect_input_error([] { LrSchedule{.warmup_steps = 3, .warmup_start_factor = 0.0}.lr_at(0); },
                     "warm-up start factor");
  expect_input_error([] { LrSchedule{}.lr_at(-1); }, "step must be >= 0");
}

}  // namespace
}  // namespace resnet
