// Segmentation losses on NHWC logits (resnet/segmentation_loss.h has the definitions): per-pixel
// cross-entropy (softmax, or sigmoid for one class) and smp's Dice loss, each with its gradient, in double.
// Per-pixel work runs on OpenMP threads; sums are taken in pixel order on one thread, so the results do not
// depend on the thread count.
#include "resnet/segmentation_loss.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "resnet/error.h"

namespace resnet {
namespace {

constexpr double kDiceEps = 1e-7;  // smp's eps: the Dice denominator sum(p + t) / 2 is clamped to >= eps

// The problem as flat arrays: logits [P, K] (P = N*H*W pixels) and each pixel's target (class or ignore).
struct PixelTargets {
  int64_t pixels = 0;
  int64_t classes = 0;
  std::vector<int64_t> target;  // [P]
  int64_t valid = 0;            // pixels whose target is not the ignore index
};

PixelTargets read_targets(const Tensor& logits, const Tensor& mask, int ignore_index, const char* what) {
  if (logits.rank() != 4 || logits.dtype() != DType::f32 || mask.rank() != 3 ||
      (mask.dtype() != DType::u8 && mask.dtype() != DType::i64) || mask.dim(0) != logits.dim(0) ||
      mask.dim(1) != logits.dim(1) || mask.dim(2) != logits.dim(2)) {
    throw InputError(
        fmt::format("{}: expected f32 logits [N,H,W,K] and a u8/i64 mask [N,H,W], got {} {} and {} {}", what,
                    dtype_name(logits.dtype()), shape_str(logits.shape()), dtype_name(mask.dtype()),
                    shape_str(mask.shape())));
  }
  PixelTargets t;
  t.pixels = mask.numel();
  t.classes = logits.dim(3);
  const int64_t labels = t.classes == 1 ? 2 : t.classes;  // binary: targets 0 and 1
  t.target.resize(size_t(t.pixels));
  for (int64_t i = 0; i < t.pixels; ++i) {
    const int64_t v =
        mask.dtype() == DType::u8 ? int64_t(mask.data_as<uint8_t>()[i]) : mask.data_as<int64_t>()[i];
    if (v != ignore_index && (v < 0 || v >= labels)) {
      const int64_t w = mask.dim(2), hw = mask.dim(1) * w;
      throw InputError(
          fmt::format("{}: mask pixel (n {}, y {}, x {}) is {}: neither a class (0..{}) nor the "
                      "ignore index {}",
                      what, i / hw, (i % hw) / w, i % w, v, labels - 1, ignore_index));
    }
    t.target[size_t(i)] = v;
    if (v != ignore_index) ++t.valid;
  }
  return t;
}

bool is_valid(const PixelTargets& t, int64_t i, int ignore_index) {
  return t.target[size_t(i)] != ignore_index;
}

// Softmax of each pixel's K logits (sigmoid for K = 1), in double: [P, K].
std::vector<double> probabilities(const Tensor& logits, int64_t pixels, int64_t classes) {
  std::vector<double> p(size_t(pixels * classes));
  const float* z = logits.f32();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pixels; ++i) {
    const float* zi = z + i * classes;
    double* pi = p.data() + i * classes;
    if (classes == 1) {
      pi[0] = 1.0 / (1.0 + std::exp(-double(zi[0])));
      continue;
    }
    const double top = *std::max_element(zi, zi + classes);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += pi[c] = std::exp(double(zi[c]) - top);
    for (int64_t c = 0; c < classes; ++c) pi[c] /= sum;
  }
  return p;
}

// The target's value for output channel c of pixel i (one-hot; for K = 1 the 0/1 target itself).
double target_value(const PixelTargets& t, int64_t i, int64_t c) {
  return t.classes == 1 ? double(t.target[size_t(i)]) : double(t.target[size_t(i)] == c);
}

}  // namespace

SegmentationLossKind parse_segmentation_loss(const std::string& name) {
  if (name == "ce") return SegmentationLossKind::ce;
  if (name == "dice") return SegmentationLossKind::dice;
  if (name == "ce+dice") return SegmentationLossKind::ce_dice;
  throw InputError(fmt::format("--loss {}: expected ce, dice or ce+dice", name));
}

std::string segmentation_loss_name(SegmentationLossKind kind) {
  switch (kind) {
    case SegmentationLossKind::ce:
      return "ce";
    case SegmentationLossKind::dice:
      return "dice";
    case SegmentationLossKind::ce_dice:
      return "ce+dice";
  }
  return "?";
}

// K > 1: loss_i = logsumexp(z_i) - z_i[t_i], dL/dz_i = (softmax(z_i) - onehot(t_i)) / valid.
// K = 1: loss_i = max(z, 0) - z t + log(1 + exp(-|z|)), dL/dz_i = (sigmoid(z_i) - t_i) / valid.
SegmentationLoss segmentation_cross_entropy(const Tensor& logits, const Tensor& mask, int ignore_index) {
  const PixelTargets t = read_targets(logits, mask, ignore_index, "cross-entropy");
  SegmentationLoss out{0.0, Tensor(logits.shape())};
  if (t.valid == 0) return out;
  const std::vector<double> p = probabilities(logits, t.pixels, t.classes);
  const float* z = logits.f32();
  float* g = out.grad.f32();
  const double scale = 1.0 / double(t.valid);
  std::vector<double> pixel_loss(static_cast<size_t>(t.pixels), 0.0);  // summed in order below
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < t.pixels; ++i) {
    if (!is_valid(t, i, ignore_index)) continue;
    const float* zi = z + i * t.classes;
    if (t.classes == 1) {
      const double x = zi[0], y = double(t.target[size_t(i)]);
      pixel_loss[size_t(i)] = std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::fabs(x)));
    } else {
      const double top = *std::max_element(zi, zi + t.classes);
      double s = 0.0;
      for (int64_t c = 0; c < t.classes; ++c) s += std::exp(double(zi[c]) - top);
      pixel_loss[size_t(i)] = top + std::log(s) - double(zi[t.target[size_t(i)]]);
    }
    for (int64_t c = 0; c < t.classes; ++c)
      g[i * t.classes + c] = float((p[size_t(i * t.classes + c)] - target_value(t, i, c)) * scale);
  }
  double sum = 0.0;
  for (const double v : pixel_loss) sum += v;
  out.loss = sum * scale;
  return out;
}

// Per output channel c over all valid pixels: I_c = sum p t, S_c = sum (p + t), D_c = max(S_c, 2 eps);
// loss = mean_c present_c (1 - 2 I_c / D_c). dL/dp_c = -present_c / K' (2 t / D_c - 2 I_c / D_c^2 [S_c >
// 2 eps]) (K' = channels), then through softmax (dz_j = p_j (g_j - sum_k p_k g_k)) or sigmoid (dz = g p
// (1-p)).
SegmentationLoss dice_loss(const Tensor& logits, const Tensor& mask, int ignore_index) {
  const PixelTargets t = read_targets(logits, mask, ignore_index, "dice loss");
  const int64_t k = t.classes;
  const std::vector<double> p = probabilities(logits, t.pixels, k);
  std::vector<double> intersection(size_t(k), 0.0), sum(size_t(k), 0.0), target_sum(size_t(k), 0.0);
  for (int64_t i = 0; i < t.pixels; ++i) {
    if (!is_valid(t, i, ignore_index)) continue;
    for (int64_t c = 0; c < k; ++c) {
      const double pc = p[size_t(i * k + c)], tc = target_value(t, i, c);
      intersection[size_t(c)] += pc * tc;
      sum[size_t(c)] += pc + tc;
      target_sum[size_t(c)] += tc;
    }
  }
  SegmentationLoss out{0.0, Tensor(logits.shape())};
  std::vector<double> d_intersection(size_t(k), 0.0), d_sum(size_t(k), 0.0);  // dL/dI_c, dL/dS_c
  for (int64_t c = 0; c < k; ++c) {
    if (target_sum[size_t(c)] <= 0) continue;  // absent from the batch: contributes 0
    const double denominator = std::max(sum[size_t(c)], 2 * kDiceEps);
    out.loss += (1.0 - 2.0 * intersection[size_t(c)] / denominator) / double(k);
    d_intersection[size_t(c)] = -2.0 / denominator / double(k);
    if (sum[size_t(c)] > 2 * kDiceEps)
      d_sum[size_t(c)] = 2.0 * intersection[size_t(c)] / (denominator * denominator) / double(k);
  }
  float* g = out.grad.f32();
#pragma omp parallel
  {
    std::vector<double> dp(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < t.pixels; ++i) {
      if (!is_valid(t, i, ignore_index)) continue;
      const double* pi = p.data() + i * k;
      double dot = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        dp[size_t(c)] = d_intersection[size_t(c)] * target_value(t, i, c) + d_sum[size_t(c)];
        dot += pi[c] * dp[size_t(c)];
      }
      for (int64_t c = 0; c < k; ++c) {
        const double dz = k == 1 ? dp[0] * pi[0] * (1.0 - pi[0]) : pi[c] * (dp[size_t(c)] - dot);
        g[i * k + c] = float(dz);
      }
    }
  }
  return out;
}

SegmentationLoss segmentation_loss(SegmentationLossKind kind, const Tensor& logits, const Tensor& mask,
                                   int ignore_index) {
  if (kind == SegmentationLossKind::ce) return segmentation_cross_entropy(logits, mask, ignore_index);
  if (kind == SegmentationLossKind::dice) return dice_loss(logits, mask, ignore_index);
  SegmentationLoss ce = segmentation_cross_entropy(logits, mask, ignore_index);
  const SegmentationLoss dice = dice_loss(logits, mask, ignore_index);
  ce.loss += dice.loss;
  float* g = ce.grad.f32();
  const float* h = dice.grad.f32();
  for (int64_t i = 0, n = ce.grad.numel(); i < n; ++i) g[i] += h[i];
  return ce;
}

}  // namespace resnet
