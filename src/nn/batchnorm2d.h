// BatchNorm2d as torch.nn.BatchNorm2d (affine, track_running_stats): weight/bias [C]; buffers running_mean,
// running_var [C] and num_batches_tracked (i64 scalar). Eval normalizes with the running statistics; train
// mode uses the batch statistics and updates the running ones with the unbiased variance, as PyTorch does.
#pragma once

#include "core/communicator.h"
#include "resnet/module.h"

namespace resnet {

class BatchNorm2d : public Module {
 public:
  BatchNorm2d(std::string path, int64_t channels, float eps = 1e-5f, float momentum = 0.1f);

  // x [N,H,W,C] -> [N,H,W,C]
  Tensor forward(const Tensor& x) override;
  // dy [N,H,W,C] -> dx [N,H,W,C] through the batch statistics (train mode) or the running ones (eval with
  // gradients, set_eval_backward); adds into weight.grad and bias.grad.
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;

  // Training only, for a batch norm whose output goes straight into a ReLU (a residual block's "bn -> relu"
  // stage): both in one oneDNN pass, y = max(forward(x), 0), keeping the ReLU's mask instead of its output.
  // backward(dy) then takes the gradient of the ReLU's output. fuses_relu(): whether forward_relu may be used
  // now (train mode, no forward observer, which would miss the batch norm's own output, and not
  // synchronised: --sync-bn normalises with all ranks' statistics, forward_synchronised).
  bool fuses_relu() const { return is_training() && !forward_observed() && !synchronised(); }
  Tensor forward_relu(const Tensor& x);
  // Whether the saved state is forward_relu's (its backward takes the ReLU output's gradient).
  bool holds_relu_mask() const { return saved_relu_mask_.defined(); }

  int64_t channels() const { return channels_; }
  float eps() const { return eps_; }
  Parameter& weight() { return *weight_; }
  Parameter& bias() { return *bias_; }
  Tensor& running_mean() { return *running_mean_; }
  Tensor& running_var() { return *running_var_; }

  // SyncBatchNorm (--sync-bn): with a communicator of more than one rank, train mode normalises with the
  // statistics of all ranks' batches and backward reduces its two sums over them (nn/sync_batchnorm.h), as
  // torch.nn.SyncBatchNorm. Null (the default) or one rank: the batch's own statistics.
  void set_communicator(Communicator* comm) { comm_ = comm; }

 private:
  void update_running_stats(const Tensor& batch_mean, const Tensor& batch_var, int64_t count);
  bool synchronised() const { return comm_ != nullptr && (comm_->size() > 1); }
  Tensor forward_synchronised(const Tensor& x);
  Tensor backward_synchronised(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& var);

  int64_t channels_;
  float eps_;
  float momentum_;
  Parameter* weight_;
  Parameter* bias_;
  Tensor* running_mean_;
  Tensor* running_var_;
  Tensor* num_batches_tracked_;
  // Saved by a train-mode forward for backward (eval with gradients: the input only).
  Tensor saved_input_, saved_mean_, saved_var_;
  Communicator* comm_ = nullptr;
  int64_t saved_count_ = 0;  // synchronised: values per channel over all ranks
  Tensor saved_relu_mask_;   // forward_relu's: backward masks dy with it first
};

}  // namespace resnet
