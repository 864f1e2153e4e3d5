// SyncBatchNorm's arithmetic (torch.nn.SyncBatchNorm): batch statistics over every rank's batch, and the two
// sums of backward reduced over the ranks. BatchNorm2d uses it in train mode when it has a communicator of
// more than one rank (BatchNorm2d::set_communicator); the normalisation itself stays oneDNN's, fed with these
// global statistics as constants (use_global_stats), and backward adds the terms through the statistics here.
#pragma once

#include <cstdint>

#include "core/communicator.h"
#include "resnet/tensor.h"

namespace resnet {

// The statistics of x [N,H,W,C] (f32 or bf16) over all ranks' batches: mean [C] and biased variance [C]
// (f32), and the number of values per channel over all ranks.
struct GlobalBatchStats {
  Tensor mean, var;
  int64_t count = 0;
};
GlobalBatchStats global_batch_stats(const Tensor& x, Communicator& comm);

// dx (in/out, like x): oneDNN's use_global_stats backward gave dx = dy * w * invstd and this rank's
// sum_dy [C] = sum(dy), sum_dy_xhat [C] = sum(dy * xhat); with both summed over the ranks, subtracts the path
// through the statistics: dx -= w * invstd * (sum_dy + xhat * sum_dy_xhat) / count.
void subtract_statistics_path(Tensor& dx, const Tensor& x, const Tensor& weight,
                              const GlobalBatchStats& stats, float eps, const Tensor& sum_dy,
                              const Tensor& sum_dy_xhat, Communicator& comm);

}  // namespace resnet
