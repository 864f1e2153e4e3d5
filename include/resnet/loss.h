// The training loss: softmax cross-entropy with label smoothing, forward and backward in one call.
//
//   resnet::CrossEntropy ce = resnet::softmax_cross_entropy(logits, batch.labels, 0.1);
//   model.backward(ce.grad);   // ce.loss: mean over the batch; ce.correct: top-1 hits in the batch
//
// Definition (torch.nn.functional.cross_entropy(logits, target, label_smoothing=eps), reduction "mean"):
//   logp[i, j] = logits[i, j] - logsumexp(logits[i, :])
//   loss       = mean_i [ (1 - eps) * -logp[i, y_i] + eps * mean_j -logp[i, j] ]
//   dL/dlogits[i, j] = (softmax(logits[i, :])[j] - (1 - eps) * [j == y_i] - eps / C) / N
// Computed in double per row with log-sum-exp, so large logits neither overflow nor lose the small classes.
#pragma once

#include <cstdint>
#include <span>

#include "resnet/tensor.h"

namespace resnet {

struct CrossEntropy {
  double loss = 0.0;    // mean over the batch
  Tensor grad;          // dL/dlogits of the mean loss, f32 [N, C]
  int64_t correct = 0;  // rows whose top-1 class (the first maximum, as torch.argmax) is the label
};

// logits: f32 [N, C]; labels: N class indices in [0, C); label_smoothing in [0, 1].
// Throws InputError for a label outside [0, C) (naming the batch row), a count or shape mismatch, or a
// smoothing outside [0, 1].
CrossEntropy softmax_cross_entropy(const Tensor& logits, std::span<const int64_t> labels,
                                   double label_smoothing = 0.0);
CrossEntropy softmax_cross_entropy(const Tensor& logits, std::span<const int32_t> labels,
                                   double label_smoothing = 0.0);

// Cross-entropy against probability targets (mixup / cutmix), as torch's cross_entropy(logits, target,
// label_smoothing=eps) with a float target [N, C]:
//   t'[i, j] = (1 - eps) * target[i, j] + eps / C
//   loss     = mean_i sum_j -t'[i, j] * logp[i, j]
//   dL/dlogits[i, j] = (softmax(logits[i, :])[j] * sum_j t'[i, j] - t'[i, j]) / N
// `correct` counts rows whose top-1 logit is the target's top-1 class (torchvision's accuracy() on mixed
// targets). Throws InputError for shapes that differ or a smoothing outside [0, 1].
CrossEntropy soft_target_cross_entropy(const Tensor& logits, const Tensor& targets,
                                       double label_smoothing = 0.0);

// Rows whose label is among the k highest logits: fewer than k classes rank above it, where a class ranks
// above the label if its logit is larger, or equal with a smaller index (so k = 1 agrees with `correct`).
// logits: f32 [N, C]; k >= 1 (k >= C counts every row).
int64_t count_top_k_correct(const Tensor& logits, std::span<const int64_t> labels, int k);

}  // namespace resnet
