#include "nn/batchnorm2d.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "nn/backward.h"
#include "nn/sync_batchnorm.h"
#include "resnet/error.h"

namespace resnet {

BatchNorm2d::BatchNorm2d(std::string path, int64_t channels, float eps, float momentum)
    : Module(std::move(path), "BatchNorm2d"), channels_(channels), eps_(eps), momentum_(momentum) {
  weight_ = &add_parameter("weight", Tensor::full({channels}, 1.0f), true);
  bias_ = &add_parameter("bias", Tensor({channels}), true);
  running_mean_ = &add_buffer("running_mean", Tensor({channels}));
  running_var_ = &add_buffer("running_var", Tensor::full({channels}, 1.0f));
  num_batches_tracked_ = &add_buffer("num_batches_tracked", Tensor({}, DType::i64));
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  if (!fuses_relu()) throw InternalError(fmt::format("{}: forward_relu outside training", path()));
  if (x.rank() != 4 || x.dim(3) != channels_) {
    throw InputError(
        fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", path(), channels_, shape_str(x.shape())));
  }
  const int64_t count = x.dim(0) * x.dim(1) * x.dim(2);
  if (count < 2) {
    throw InputError(fmt::format("{}: expected more than 1 value per channel when training, got input {}",
                                 path(), shape_str(x.shape())));
  }
  saved_mean_ = Tensor({channels_});
  saved_var_ = Tensor({channels_});
  Tensor y = ops::batchnorm_relu_forward_training(x, weight_->value, bias_->value, eps_, saved_mean_,
                                                  saved_var_, saved_relu_mask_);
  saved_input_ = x;
  update_running_stats(saved_mean_, saved_var_, count);
  return y;
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  saved_relu_mask_ = Tensor();
  if (x.rank() != 4 || x.dim(3) != channels_) {
    throw InputError(
        fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", path(), channels_, shape_str(x.shape())));
  }
  Tensor y;
  if (is_training()) {
    const int64_t count = x.dim(0) * x.dim(1) * x.dim(2);
    if (count < 2) {
      throw InputError(fmt::format("{}: expected more than 1 value per channel when training, got input {}",
                                   path(), shape_str(x.shape())));
    }
    if (synchronised()) {
      y = forward_synchronised(x);
    } else {
      saved_mean_ = Tensor({channels_});
      saved_var_ = Tensor({channels_});
      y = ops::batchnorm_forward_training(x, weight_->value, bias_->value, eps_, saved_mean_, saved_var_);
      saved_input_ = x;
      update_running_stats(saved_mean_, saved_var_, count);
    }
  } else {
    y = ops::batchnorm_forward_inference(x, weight_->value, bias_->value, *running_mean_, *running_var_,
                                         eps_);
    saved_mean_ = saved_var_ = Tensor();
    saved_input_ = keeps_for_backward() ? x : Tensor();  // eval with gradients
  }
  notify_forward(x, y);
  return y;
}

// dy [N,H,W,C] -> dx [N,H,W,C], with the batch statistics of a train-mode forward, or (eval with gradients)
// through the running statistics as constants: dx = dy * weight / sqrt(running_var + eps).
Tensor BatchNorm2d::backward(const Tensor& dy) {
  require_saved(*this, saved_input_.defined());
  const Tensor x = std::move(saved_input_), mean = std::move(saved_mean_), var = std::move(saved_var_);
  if (saved_relu_mask_.defined()) {
    const Tensor mask = std::move(saved_relu_mask_);
    saved_relu_mask_ = Tensor();
    Tensor dx = ops::batchnorm_relu_backward(dy, x, weight_->value, mean, var, mask, eps_,
                                             grad_to_accumulate(*weight_), grad_to_accumulate(*bias_));
    notify_gradients_ready();
    return dx;
  }
  if (!mean.defined()) {
    return ops::batchnorm_backward_global_stats(dy, x, weight_->value, *running_mean_, *running_var_, eps_,
                                                grad_to_accumulate(*weight_), grad_to_accumulate(*bias_));
  }
  if (synchronised()) return backward_synchronised(dy, x, mean, var);
  Tensor dx = ops::batchnorm_backward(dy, x, weight_->value, mean, var, eps_, grad_to_accumulate(*weight_),
                                      grad_to_accumulate(*bias_));
  notify_gradients_ready();
  return dx;
}

// SyncBatchNorm's forward: the statistics of every rank's batch, used as constants by oneDNN's inference
// normalisation (the same formula); the running statistics take the unbiased variance over all ranks.
Tensor BatchNorm2d::forward_synchronised(const Tensor& x) {
  GlobalBatchStats stats = global_batch_stats(x, *comm_);
  if (stats.count < 2) {
    throw InputError(
        fmt::format("{}: expected more than 1 value per channel over the ranks when training, got {}", path(),
                    stats.count));
  }
  Tensor y = ops::batchnorm_forward_inference(x, weight_->value, bias_->value, stats.mean, stats.var, eps_);
  saved_mean_ = std::move(stats.mean);
  saved_var_ = std::move(stats.var);
  saved_count_ = stats.count;
  saved_input_ = x;
  update_running_stats(saved_mean_, saved_var_, saved_count_);
  return y;
}

// SyncBatchNorm's backward: oneDNN's use_global_stats backward gives dy * w * invstd and this rank's sums of
// dy and dy * xhat (= its parts of the bias and weight gradients, summed over the ranks with the other
// gradients); the path through the statistics needs both sums over all ranks.
Tensor BatchNorm2d::backward_synchronised(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                          const Tensor& var) {
  Tensor sum_dy_xhat = Tensor::zeros({channels_}), sum_dy = Tensor::zeros({channels_});
  Tensor dx =
      ops::batchnorm_backward_global_stats(dy, x, weight_->value, mean, var, eps_, sum_dy_xhat, sum_dy);
  ops::add_to(grad_to_accumulate(*weight_), sum_dy_xhat);
  ops::add_to(grad_to_accumulate(*bias_), sum_dy);
  notify_gradients_ready();
  const GlobalBatchStats stats{mean, var, saved_count_};
  subtract_statistics_path(dx, x, weight_->value, stats, eps_, sum_dy, sum_dy_xhat, *comm_);
  return dx;
}

// running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance (as PyTorch).
void BatchNorm2d::update_running_stats(const Tensor& batch_mean, const Tensor& batch_var, int64_t count) {
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  float* rm = running_mean_->f32();
  float* rv = running_var_->f32();
  const float* bm = batch_mean.f32();
  const float* bv = batch_var.f32();
  for (int64_t c = 0; c < channels_; ++c) {
    rm[c] = (1.0f - momentum_) * rm[c] + momentum_ * bm[c];
    rv[c] = (1.0f - momentum_) * rv[c] + momentum_ * static_cast<float>(bv[c] * unbias);
  }
  num_batches_tracked_->data_as<int64_t>()[0] += 1;
}

std::string BatchNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine=True, track_running_stats=True", channels_,
                     eps_ == 1e-5f ? "1e-05" : fmt::format("{}", eps_), momentum_);
}

}  // namespace resnet
