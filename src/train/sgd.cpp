// SGD with momentum, dampening, Nesterov and weight decay, in torch.optim.SGD's order of operations
// (torch 1.13, single-tensor path), in f32 as torch computes on f32 parameters.
#include <fmt/format.h>

#include "resnet/error.h"
#include "resnet/optim.h"
#include "train/elementwise.h"

namespace resnet {

namespace {

using train_detail::kParallelMinElements;

// The hyperparameters as torch applies them to f32 tensors: each rounded to f32.
struct SgdCoefficients {
  float lr, weight_decay, momentum, one_minus_dampening;
  bool nesterov;
};

// w, g: [n]. p -= lr * (g + wd * p).
void update_without_momentum(float* w, const float* g, int64_t n, const SgdCoefficients& c) {
  const float lr = c.lr, weight_decay = c.weight_decay;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) w[k] -= lr * (g[k] + weight_decay * w[k]);
}

// w, g, buf: [n]. kFirst: the buffer is created as d (torch clones d_p into the new buffer). One loop per
// (kFirst, kNesterov) keeps the body branch-free, so it vectorises.
template <bool kFirst, bool kNesterov>
void update_with_momentum(float* w, const float* g, float* buf, int64_t n, const SgdCoefficients& c) {
  const float lr = c.lr, weight_decay = c.weight_decay, momentum = c.momentum;
  const float one_minus_dampening = c.one_minus_dampening;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) {
    const float d = g[k] + weight_decay * w[k];
    const float b = kFirst ? d : momentum * buf[k] + one_minus_dampening * d;
    buf[k] = b;
    w[k] -= lr * (kNesterov ? d + momentum * b : b);
  }
}

void update_with_momentum(float* w, const float* g, float* buf, int64_t n, const SgdCoefficients& c,
                          bool first) {
  if (first) {
    c.nesterov ? update_with_momentum<true, true>(w, g, buf, n, c)
               : update_with_momentum<true, false>(w, g, buf, n, c);
  } else {
    c.nesterov ? update_with_momentum<false, true>(w, g, buf, n, c)
               : update_with_momentum<false, false>(w, g, buf, n, c);
  }
}

}  // namespace

Sgd::Sgd(std::vector<Parameter*> params, const SgdOptions& options)
    : Optimizer(
          std::move(params), options.lr,
          options.momentum != 0.0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{},
          false),
      options_(options) {
  if (!(options.momentum >= 0.0)) throw InputError(fmt::format("SGD: invalid momentum {}", options.momentum));
  if (!(options.weight_decay >= 0.0)) {
    throw InputError(fmt::format("SGD: invalid weight decay {}", options.weight_decay));
  }
  if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0)) {
    throw InputError("SGD: Nesterov momentum requires a momentum and zero dampening");
  }
}

void Sgd::set_momentum(double momentum) {
  if (!(momentum >= 0.0)) throw InputError(fmt::format("SGD: invalid momentum {}", momentum));
  // The state layout (a buffer or none) is fixed at construction, as torch's momentum != 0 branch would not
  // be consistent with buffers that appear or vanish.
  if ((momentum != 0.0) != (options_.momentum != 0.0)) {
    throw InputError(fmt::format("SGD: cannot change momentum from {} to {}", options_.momentum, momentum));
  }
  if (options_.nesterov && momentum <= 0.0) throw InputError("SGD: Nesterov momentum requires a momentum");
  options_.momentum = momentum;
}

void Sgd::step() {
  const std::vector<Parameter*>& params = parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    if (!p.grad.defined()) continue;
    const SgdCoefficients c{float(lr_of(i)),
                            float(weight_decay_for(p, options_.weight_decay, options_.decay_bn_and_bias)),
                            float(options_.momentum), float(1.0 - options_.dampening), options_.nesterov};
    const bool first = !has_state(i);
    begin_update(i);
    if (options_.momentum == 0.0) {
      update_without_momentum(p.value.f32(), p.grad.f32(), p.value.numel(), c);
    } else {
      update_with_momentum(p.value.f32(), p.grad.f32(), slots(i)[0].f32(), p.value.numel(), c, first);
    }
  }
  count_step();
}

}  // namespace resnet
