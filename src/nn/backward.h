// What every layer's backward() shares: checking that a train-mode forward left what backward needs, and the
// parameter gradient to accumulate into.
#pragma once

#include <fmt/format.h>

#include "resnet/error.h"
#include "resnet/module.h"

namespace resnet {

// Throws InternalError unless `saved` (what the forward kept) is there: backward needs a forward in train
// mode or eval with gradients (plain eval forwards keep nothing) since the last backward (which releases what
// was kept, as torch frees its graph).
inline void require_saved(const Module& m, bool saved) {
  if (saved) return;
  throw InternalError(fmt::format(
      "{} ({}): backward needs a forward in training mode first{}", m.path().empty() ? "model" : m.path(),
      m.type_name(),
      m.is_training()
          ? ""
          : " (the module is in eval mode: call set_training(true), or set_eval_backward(true) for "
            "gradients through eval-mode layers)"));
}

// p.grad, allocated as zeros on first use; backward kernels add into it (torch accumulates until zero_grad).
inline Tensor& grad_to_accumulate(Parameter& p) {
  if (!p.grad.defined()) p.grad = Tensor::zeros(p.value.shape());
  return p.grad;
}

}  // namespace resnet
