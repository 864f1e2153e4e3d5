// AdamW (decoupled weight decay), in torch.optim.AdamW's order of operations (torch 1.13, single-tensor path,
// not capturable), in f32 as torch computes on f32 parameters.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "resnet/error.h"
#include "resnet/optim.h"
#include "train/elementwise.h"

namespace resnet {

namespace {

using train_detail::kParallelMinElements;

// The per-step factors as torch applies them to f32 tensors: computed in double, then rounded to f32.
struct AdamWCoefficients {
  float decay;  // 1 - lr * wd
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^t)
};

// w, g, m (exp_avg), v (exp_avg_sq): [n]; v_max (max_exp_avg_sq): [n] with kAmsgrad, else unused.
template <bool kAmsgrad>
void adamw_update(float* w, const float* g, float* m, float* v, float* v_max, int64_t n,
                  const AdamWCoefficients& c) {
  const AdamWCoefficients coef = c;  // a local copy: stores through w, m, v cannot change it
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) {
    w[k] *= coef.decay;
    m[k] = m[k] * coef.beta1 + coef.one_minus_beta1 * g[k];
    v[k] = v[k] * coef.beta2 + coef.one_minus_beta2 * g[k] * g[k];
    float second = v[k];
    if constexpr (kAmsgrad) second = v_max[k] = std::max(v_max[k], v[k]);
    const float denom = std::sqrt(second) / coef.bias_correction2_sqrt + coef.eps;
    w[k] += coef.neg_step_size * m[k] / denom;
  }
}

std::vector<std::string> adamw_slots(bool amsgrad) {
  std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  if (amsgrad) names.push_back("max_exp_avg_sq");
  return names;
}

void check_beta(double beta, const char* name) {
  if (!(beta >= 0.0 && beta < 1.0))
    throw InputError(fmt::format("AdamW: invalid {} {} (need [0, 1))", name, beta));
}

}  // namespace

AdamW::AdamW(std::vector<Parameter*> params, const AdamWOptions& options)
    : Optimizer(std::move(params), options.lr, adamw_slots(options.amsgrad), true), options_(options) {
  check_beta(options.beta1, "beta1");
  check_beta(options.beta2, "beta2");
  if (!(options.eps >= 0.0)) throw InputError(fmt::format("AdamW: invalid eps {}", options.eps));
  if (!(options.weight_decay >= 0.0)) {
    throw InputError(fmt::format("AdamW: invalid weight decay {}", options.weight_decay));
  }
}

void AdamW::set_momentum(double beta1) {
  check_beta(beta1, "beta1");
  options_.beta1 = beta1;
}

void AdamW::step() {
  const std::vector<Parameter*>& params = parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    if (!p.grad.defined()) continue;
    const double lr = lr_of(i);
    const double t = double(begin_update(i));
    const double wd = weight_decay_for(p, options_.weight_decay, options_.decay_bn_and_bias);
    const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
    const AdamWCoefficients c{float(1.0 - lr * wd),        float(options_.beta1),
                              float(1.0 - options_.beta1), float(options_.beta2),
                              float(1.0 - options_.beta2), float(std::sqrt(bias_correction2)),
                              float(options_.eps),         float(-(lr / bias_correction1))};
    std::vector<Tensor>& s = slots(i);
    if (options_.amsgrad) {
      adamw_update<true>(p.value.f32(), p.grad.f32(), s[0].f32(), s[1].f32(), s[2].f32(), p.value.numel(), c);
    } else {
      adamw_update<false>(p.value.f32(), p.grad.f32(), s[0].f32(), s[1].f32(), nullptr, p.value.numel(), c);
    }
  }
  count_step();
}

}  // namespace resnet
