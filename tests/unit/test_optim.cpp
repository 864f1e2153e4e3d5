// SGD, AdamW and gradient clipping: the same weights, optimizer state and norms as torch.optim /
// torch.nn.utils (fixtures by tests/oracle/make_optim_fixtures.py), and a state export that resumes bit for
// bit.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>

#include "core/rng.h"
#include "input_error.h"
#include "resnet/error.h"
#include "resnet/optim.h"
#include "unit/optim_oracle.h"

namespace resnet {
namespace {

using nlohmann::json;
using optim_oracle::array;
using optim_oracle::manifest;
using optim_oracle::max_scaled_diff;
using test::expect_input_error;

// Parameters with stable addresses, and their per-step gradients (undefined = torch's .grad is None).
struct ParamSet {
  std::deque<Parameter> params;
  std::vector<std::vector<Tensor>> grads;  // [param][step]

  std::vector<Parameter*> pointers() {
    std::vector<Parameter*> out;
    for (Parameter& p : params) out.push_back(&p);
    return out;
  }
  void set_grads(size_t step) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].grad = grads[i][step].defined() ? grads[i][step].clone() : Tensor();
    }
  }
};

ParamSet fixture_params() {
  ParamSet set;
  for (const json& p : manifest()["params"]) {
    set.params.push_back(
        {p["name"].get<std::string>(), array(p["value"]), Tensor(), p["is_bn_or_bias"].get<bool>()});
    std::vector<Tensor> grads;
    for (const json& g : p["grads"]) grads.push_back(g.is_null() ? Tensor() : array(g));
    set.grads.push_back(std::move(grads));
  }
  return set;
}

SgdOptions sgd_options(const json& o) {
  return {.lr = 0.0,
          .momentum = o["momentum"],
          .dampening = o["dampening"],
          .weight_decay = o["weight_decay"],
          .nesterov = o["nesterov"],
          .decay_bn_and_bias = o["decay_bn_and_bias"]};
}

AdamWOptions adamw_options(const json& o) {
  return {.lr = 0.0,
          .beta1 = o["beta1"],
          .beta2 = o["beta2"],
          .eps = o["eps"],
          .weight_decay = o["weight_decay"],
          .amsgrad = o["amsgrad"],
          .decay_bn_and_bias = o["decay_bn_and_bias"]};
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const json& options,
                                          std::vector<Parameter*> params) {
  if (kind == "sgd") return std::make_unique<Sgd>(std::move(params), sgd_options(options));
  return std::make_unique<AdamW>(std::move(params), adamw_options(options));
}

// Steps [from, to) of a fixture case: that step's grads, lr and (if given) momentum, then step().
void run_steps(Optimizer& optimizer, ParamSet& set, const json& c, size_t from, size_t to) {
  for (size_t step = from; step < to; ++step) {
    set.set_grads(step);
    optimizer.set_lr(c["lrs"][step]);
    if (!c["momenta"].is_null()) optimizer.set_momentum(c["momenta"][step]);
    optimizer.step();
  }
}

const Tensor* find(const StateDict& state, const std::string& name) {
  for (const NamedTensor& entry : state) {
    if (entry.name == name) return &entry.tensor;
  }
  return nullptr;
}

// Our weights and optimizer state against torch's after a case's steps; returns the largest weight and state
// differences, each relative to its tensor's largest |value|. (Elementwise they differ by float32 rounding:
// torch's vectorised kernels fuse multiply-adds, ours round each product, so an element near 0 that is the
// difference of larger terms can differ by more than 1e-6 of itself, never of the terms.)
std::pair<double, double> compare_with_torch(const Optimizer& optimizer, const ParamSet& set, const json& c) {
  double weights = 0.0, state = 0.0;
  for (const Parameter& p : set.params) {
    const double d = max_scaled_diff(p.value, array(c["after"][p.name]));
    EXPECT_LE(d, 1e-6) << p.name;
    weights = std::max(weights, d);
  }
  const StateDict ours = optimizer.state_dict();
  size_t expected_entries = 1;  // "step"
  for (const auto& [param, entries] : c["state"].items()) {
    for (const auto& [key, value] : entries.items()) {
      ++expected_entries;
      const Tensor* mine = find(ours, param + "." + key);
      if (mine == nullptr) {
        ADD_FAILURE() << "no " << param << "." << key;
        continue;
      }
      if (key == "step") {
        EXPECT_EQ(*mine->data_as<int64_t>(), value.get<int64_t>()) << param;
      } else {
        const double d = max_scaled_diff(*mine, array(value));
        EXPECT_LE(d, 1e-6) << param << "." << key;
        state = std::max(state, d);
      }
    }
  }
  EXPECT_EQ(ours.size(), expected_entries) << "state entries beyond torch's";
  EXPECT_EQ(*find(ours, "step")->data_as<int64_t>(), int64_t(c["lrs"].size()));
  return {weights, state};
}

void expect_matches_torch(const std::string& kind) {
  double worst_weights = 0.0, worst_state = 0.0;
  for (const json& c : manifest()[kind]) {
    SCOPED_TRACE(kind + " " + c["case"].get<std::string>());
    ParamSet set = fixture_params();
    std::unique_ptr<Optimizer> optimizer = make_optimizer(kind, c["options"], set.pointers());
    run_steps(*optimizer, set, c, 0, c["lrs"].size());
    const auto [weights, state] = compare_with_torch(*optimizer, set, c);
    worst_weights = std::max(worst_weights, weights);
    worst_state = std::max(worst_state, state);
  }
  std::cout << kind << " vs torch: max difference of weights " << worst_weights << ", of state "
            << worst_state << " (relative to each tensor's largest value)\n";
}

TEST(OptimOracle, SgdGivesTorchsWeightsAndMomentumBuffersAfterThreeSteps) {
  REQUIRE_OPTIM_ORACLE();
  expect_matches_torch("sgd");
}

TEST(OptimOracle, AdamWGivesTorchsWeightsAndMomentsAfterThreeSteps) {
  REQUIRE_OPTIM_ORACLE();
  expect_matches_torch("adamw");
}

TEST(OptimOracle, ClipGradNormMatchesTorch) {
  REQUIRE_OPTIM_ORACLE();
  double worst = 0.0;
  for (const json& c : manifest()["clip"]) {
    ParamSet set = fixture_params();
    set.set_grads(0);
    const double total = clip_grad_norm(set.pointers(), c["max_norm"]);
    EXPECT_NEAR(total, c["total_norm_f64"].get<double>(), 1e-12 * total);
    EXPECT_NEAR(total, c["total_norm"].get<double>(), 1e-6 * total);
    for (const Parameter& p : set.params) {
      if (!p.grad.defined()) {
        EXPECT_FALSE(c["grads"].contains(p.name));
        continue;
      }
      const double d = max_scaled_diff(p.grad, array(c["grads"][p.name]));
      EXPECT_LE(d, 1e-6) << p.name << " max_norm " << c["max_norm"];
      worst = std::max(worst, d);
    }
  }
  std::cout << "clip_grad_norm vs torch: max difference of gradients " << worst
            << " (relative to each tensor's largest value)\n";
}

// ----- without the oracle

// n parameters of a few shapes, some BN/bias, with seeded values; grads seeded per step.
ParamSet random_params(uint64_t seed) {
  ParamSet set;
  Rng rng(seed);
  const std::vector<std::pair<Shape, bool>> shapes = {{{8, 3, 3, 3}, false}, {{8}, true},      {{8}, true},
                                                      {{50000}, false},      {{10, 8}, false}, {{10}, true}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor value(shapes[i].first);
    for (int64_t k = 0; k < value.numel(); ++k) value.f32()[k] = float(rng.normal() * 0.3);
    set.params.push_back({"p" + std::to_string(i) + ".weight", value, Tensor(), shapes[i].second});
    std::vector<Tensor> grads;
    for (int step = 0; step < 6; ++step) {
      Tensor g(shapes[i].first);
      for (int64_t k = 0; k < g.numel(); ++k) g.f32()[k] = float(rng.normal() * 0.1);
      grads.push_back(step == 2 && i == 4 ? Tensor() : g);  // one step without a gradient
    }
    set.grads.push_back(std::move(grads));
  }
  return set;
}

ParamSet clone_values(const ParamSet& other) {
  ParamSet set = other;
  for (Parameter& p : set.params) p.value = p.value.clone();
  return set;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(std::vector<Parameter*>)>;

const std::vector<std::pair<std::string, OptimizerFactory>>& optimizer_factories() {
  static const std::vector<std::pair<std::string, OptimizerFactory>> factories = {
      {"sgd nesterov",
       [](std::vector<Parameter*> p) {
         return std::make_unique<Sgd>(
             p,
             SgdOptions{.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true, .decay_bn_and_bias = false});
       }},
      {"sgd plain",
       [](std::vector<Parameter*> p) { return std::make_unique<Sgd>(p, SgdOptions{.weight_decay = 1e-3}); }},
      {"adamw", [](std::vector<Parameter*> p) { return std::make_unique<AdamW>(p, AdamWOptions{}); }},
      {"adamw amsgrad",
       [](std::vector<Parameter*> p) {
         return std::make_unique<AdamW>(p, AdamWOptions{.amsgrad = true, .decay_bn_and_bias = false});
       }},
  };
  return factories;
}

void run_random(Optimizer& optimizer, ParamSet& set, int from, int to) {
  for (int step = from; step < to; ++step) {
    set.set_grads(size_t(step));
    optimizer.set_lr(0.05 / (1 + step));
    optimizer.step();
  }
}

TEST(Optim, ExportedStateResumesBitForBit) {
  for (const auto& [name, factory] : optimizer_factories()) {
    SCOPED_TRACE(name);
    // Uninterrupted: six steps.
    ParamSet straight = random_params(1);
    std::unique_ptr<Optimizer> a = factory(straight.pointers());
    run_random(*a, straight, 0, 6);
    // Interrupted after three: weights and state copied into a fresh optimizer over fresh parameters.
    ParamSet first = random_params(1);
    std::unique_ptr<Optimizer> b = factory(first.pointers());
    run_random(*b, first, 0, 3);
    const StateDict saved = b->state_dict();
    ParamSet resumed = clone_values(first);
    std::unique_ptr<Optimizer> c = factory(resumed.pointers());
    c->load_state_dict(saved, "checkpoint");
    EXPECT_EQ(c->steps(), 3);
    run_random(*b, first, 3, 6);  // the saved state is a copy: stepping b does not change it
    run_random(*c, resumed, 3, 6);
    for (size_t i = 0; i < straight.params.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(resumed.params[i].value, straight.params[i].value))
          << straight.params[i].name;
      EXPECT_TRUE(bitwise_equal(first.params[i].value, straight.params[i].value)) << straight.params[i].name;
    }
    const StateDict end_a = a->state_dict(), end_c = c->state_dict();
    ASSERT_EQ(end_a.size(), end_c.size());
    for (size_t i = 0; i < end_a.size(); ++i) {
      EXPECT_EQ(end_a[i].name, end_c[i].name);
      EXPECT_TRUE(bitwise_equal(end_a[i].tensor, end_c[i].tensor)) << end_a[i].name;
    }
  }
}

TEST(Optim, StateNamesFollowTorchsStateKeys) {
  ParamSet set = random_params(2);
  AdamW adamw(set.pointers(), {.amsgrad = true});
  EXPECT_EQ(adamw.state_dict().size(), 1u);  // only "step" before the first update
  run_random(adamw, set, 0, 1);
  std::vector<std::string> names;
  for (const NamedTensor& entry : adamw.state_dict()) names.push_back(entry.name);
  ASSERT_GE(names.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5),
            (std::vector<std::string>{"step", "p0.weight.exp_avg", "p0.weight.exp_avg_sq",
                                      "p0.weight.max_exp_avg_sq", "p0.weight.step"}));
  Sgd sgd(set.pointers(), {.momentum = 0.9});
  run_random(sgd, set, 0, 1);
  EXPECT_EQ(sgd.state_dict()[1].name, "p0.weight.momentum_buffer");
  Sgd plain(set.pointers(), {});
  run_random(plain, set, 0, 1);
  EXPECT_EQ(plain.state_dict().size(), 1u);  // no momentum: no buffers
}

TEST(Optim, SkipsParametersWithoutGradient) {
  ParamSet set = random_params(3);
  const Tensor before = set.params[4].value.clone();
  AdamW adamw(set.pointers(), {.lr = 0.1});
  set.set_grads(2);  // parameter 4 has no gradient in step 2
  adamw.step();
  EXPECT_TRUE(bitwise_equal(set.params[4].value, before));
  EXPECT_EQ(find(adamw.state_dict(), "p4.weight.exp_avg"), nullptr);
  EXPECT_NE(find(adamw.state_dict(), "p3.weight.exp_avg"), nullptr);
}

TEST(Optim, ExcludesBnParametersAndBiasesFromWeightDecayOnRequest) {
  for (bool decay_bn_and_bias : {true, false}) {
    ParamSet set = random_params(4);
    std::vector<Tensor> before;
    for (Parameter& p : set.params) {
      before.push_back(p.value.clone());
      p.grad = Tensor::zeros(p.value.shape());  // only weight decay moves the weights
    }
    Sgd sgd(set.pointers(), {.lr = 0.5, .weight_decay = 0.1, .decay_bn_and_bias = decay_bn_and_bias});
    sgd.step();
    for (size_t i = 0; i < set.params.size(); ++i) {
      const bool decays = decay_bn_and_bias || !set.params[i].is_bn_or_bias;
      const float factor = decays ? 1.f - 0.5f * 0.1f : 1.f;
      EXPECT_FLOAT_EQ(set.params[i].value.f32()[1], before[i].f32()[1] * factor) << set.params[i].name;
    }
  }
}

TEST(Optim, RejectsStateThatDoesNotFit) {
  ParamSet set = random_params(5);
  AdamW adamw(set.pointers(), {});
  run_random(adamw, set, 0, 1);
  const StateDict good = adamw.state_dict();
  const auto with = [&](const std::function<void(StateDict&)>& change) {
    StateDict state = good;
    change(state);
    return state;
  };
  AdamW other(set.pointers(), {});
  expect_input_error(
      [&] { other.load_state_dict(with([](StateDict& s) { s[1].name = "nope.exp_avg"; }), "ck.st"); },
      "ck.st: unexpected optimizer state 'nope.exp_avg'");
  expect_input_error(
      [&] { other.load_state_dict(with([](StateDict& s) { s[1].tensor = Tensor({2}); }), "ck.st"); },
      "p0.weight.exp_avg is f32 [2], expected f32 [8,3,3,3]");
  expect_input_error(
      [&] { other.load_state_dict(with([](StateDict& s) { s.erase(s.begin() + 2); }), "ck.st"); },
      "optimizer state of p0.weight is incomplete");
  expect_input_error(
      [&] {
        other.load_state_dict(with([](StateDict& s) { s[0].tensor = Tensor({}, DType::f32); }), "ck.st");
      },
      "step must be one i64");
  Sgd sgd(set.pointers(), {.momentum = 0.9});
  expect_input_error([&] { sgd.load_state_dict(good, "ck.st"); }, "this optimizer keeps no 'exp_avg'");
  // A failed load leaves the optimizer as it was.
  EXPECT_EQ(other.steps(), 0);
}

TEST(Optim, RejectsInvalidOptions) {
  ParamSet set = random_params(6);
  expect_input_error([&] { Sgd(set.pointers(), {.nesterov = true}); }, "Nesterov");
  expect_input_error([&] { Sgd(set.pointers(), {.lr = -1}); }, "learning rate");
  expect_input_error([&] { AdamW(set.pointers(), {.beta2 = 1.0}); }, "beta2");
  std::vector<Parameter*> twice = set.pointers();
  twice.push_back(twice[0]);
  expect_input_error([&] { AdamW(twice, {}); }, "two parameters are named 'p0.weight'");
  expect_input_error([&] { clip_grad_norm(set.pointers(), 0.0); }, "max norm");
}

TEST(Optim, ClipGradNormLeavesSmallGradientsAlone) {
  ParamSet set = random_params(7);
  set.set_grads(0);
  const std::vector<Tensor> before = {set.params[0].grad.clone(), set.params[3].grad.clone()};
  const double total = grad_norm(set.pointers());
  EXPECT_EQ(clip_grad_norm(set.pointers(), total * 2), total);
  EXPECT_TRUE(bitwise_equal(set.params[0].grad, before[0]));
  EXPECT_TRUE(bitwise_equal(set.params[3].grad, before[1]));
  clip_grad_norm(set.pointers(), total / 4);
  EXPECT_NEAR(grad_norm(set.pointers()), total / 4, 1e-6 * total);
  for (Parameter& p : set.params) p.grad = Tensor();
  EXPECT_EQ(clip_grad_norm(set.pointers(), 1.0), 0.0);
}

}  // namespace
}  // namespace resnet
