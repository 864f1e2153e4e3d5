#include "nn/sync_batchnorm.h"

#include <cmath>
#include <vector>

#include "dnnl/ops.h"

namespace resnet {

// x [N,H,W,C]: per channel sum and sum of squares of this rank's values (double), and the count; then summed
// over the ranks in one all-reduce of [2C + 1].
GlobalBatchStats global_batch_stats(const Tensor& x, Communicator& comm) {
  const Tensor xf = ops::convert(x, DType::f32);
  const int64_t c = x.dim(3), rows = x.numel() / c;
  std::vector<double> sums(size_t(2 * c + 1), 0.0);
  const float* p = xf.f32();
  for (int64_t r = 0; r < rows; ++r, p += c) {
    for (int64_t k = 0; k < c; ++k) {
      const double v = p[k];
      sums[size_t(k)] += v;
      sums[size_t(c + k)] += v * v;
    }
  }
  sums[size_t(2 * c)] = double(rows);
  comm.allreduce_sum(sums.data(), int64_t(sums.size()));

  GlobalBatchStats s{Tensor({c}), Tensor({c}), int64_t(sums[size_t(2 * c)])};
  const double n = sums[size_t(2 * c)];
  for (int64_t k = 0; k < c; ++k) {
    const double mean = sums[size_t(k)] / n;
    s.mean.f32()[k] = float(mean);
    s.var.f32()[k] = float(std::max(0.0, sums[size_t(c + k)] / n - mean * mean));
  }
  return s;
}

void subtract_statistics_path(Tensor& dx, const Tensor& x, const Tensor& weight,
                              const GlobalBatchStats& stats, float eps, const Tensor& sum_dy,
                              const Tensor& sum_dy_xhat, Communicator& comm) {
  const int64_t c = x.dim(3), rows = x.numel() / c;
  std::vector<double> sums(size_t(2 * c));
  for (int64_t k = 0; k < c; ++k) {
    sums[size_t(k)] = sum_dy.f32()[k];
    sums[size_t(c + k)] = sum_dy_xhat.f32()[k];
  }
  comm.allreduce_sum(sums.data(), int64_t(sums.size()));

  // dx -= k0 + (x - mean) * k1, with k0 = w * invstd * sum_dy / n and k1 = w * invstd^2 * sum_dy_xhat / n.
  const double n = double(stats.count);
  const size_t channels = static_cast<size_t>(c);
  std::vector<float> k0(channels), k1(channels), mean(channels);
  for (int64_t k = 0; k < c; ++k) {
    const double invstd = 1.0 / std::sqrt(double(stats.var.f32()[k]) + double(eps));
    const double w = weight.f32()[k];
    k0[size_t(k)] = float(w * invstd * sums[size_t(k)] / n);
    k1[size_t(k)] = float(w * invstd * invstd * sums[size_t(c + k)] / n);
    mean[size_t(k)] = stats.mean.f32()[k];
  }
  const Tensor xf = ops::convert(x, DType::f32);
  Tensor dxf = ops::convert(dx, DType::f32);
  const float* px = xf.f32();
  float* pd = dxf.f32();
  for (int64_t r = 0; r < rows; ++r, px += c, pd += c) {
    for (int64_t k = 0; k < c; ++k) pd[k] -= k0[size_t(k)] + (px[k] - mean[size_t(k)]) * k1[size_t(k)];
  }
  dx = ops::convert(dxf, dx.dtype());
}

}  // namespace resnet
