#include "dnnl/winograd_transforms.h"

#include <algorithm>

namespace resnet::winograd {
namespace {

// 16 f32 lanes: one nChw16c channel block. The row functions are compiled for AVX-512 and for the baseline
// (target_clones); the library itself is built for the baseline.
typedef float Lanes __attribute__((vector_size(64)));
// The same in memory at any float alignment (the plan's buffers are 64-byte aligned; callers' need not be).
typedef float LanesInMemory __attribute__((vector_size(64), aligned(4)));

// target_clones makes each row function an ifunc, whose resolver the dynamic loader runs while it relocates
// libresnet, before a sanitizer's runtime is initialised; ThreadSanitizer instruments the resolver, which
// then crashes the process at load. Its build (make test-sanitize) compiles the baseline version only.
#if defined(__SANITIZE_THREAD__)
#define RESNET_AVX512_AND_BASELINE
#else
#define RESNET_AVX512_AND_BASELINE __attribute__((target_clones("avx512f", "default")))
#endif

// (By reference: a vector returned by value would have two ABIs, with and without AVX-512.)
inline void load(Lanes& to, const float* p) {
  to = *reinterpret_cast<const LanesInMemory*>(p);
}
inline void store(float* p, const Lanes& value) {
  *reinterpret_cast<LanesInMemory*>(p) = value;
}

// r = B^T d for one column of 6 vectors (input transform).
inline void input_1d(const Lanes* d, Lanes* r) {
  r[0] = 4 * d[0] - 5 * d[2] + d[4];
  r[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
  r[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
  r[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
  r[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
  r[5] = 4 * d[1] - 5 * d[3] + d[5];
}

// o = A^T m for one column of 6 vectors (output transform): 4 outputs.
inline void output_1d(const Lanes* m, Lanes* o) {
  const Lanes sum12 = m[1] + m[2], diff12 = m[1] - m[2], sum34 = m[3] + m[4], diff34 = m[3] - m[4];
  o[0] = m[0] + sum12 + sum34;
  o[1] = diff12 + 2 * diff34;
  o[2] = sum12 + 4 * sum34;
  o[3] = diff12 + 8 * diff34 + m[5];
}

// r = A o for one column of 4 vectors (the output transform's transpose): 6 values.
inline void output_gradient_1d(const Lanes* o, Lanes* r) {
  const Lanes even = o[0] + o[2], odd = o[1] + o[3], even4 = o[0] + 4 * o[2], odd8 = 2 * o[1] + 8 * o[3];
  r[0] = o[0];
  r[1] = even + odd;
  r[2] = even - odd;
  r[3] = even4 + odd8;
  r[4] = even4 - odd8;
  r[5] = o[3];
}

// Tile row i of one image: src [C/16][H][W][16] or [H][W][C] -> v, tiles first_tile.. (all channel blocks
// of a tile in turn: each of its 36 rows of C channels is written whole).
RESNET_AVX512_AND_BASELINE void input_tile_row(const Geometry& g, const float* src, int64_t i,
                                               int64_t first_tile, float* v) {
  const int64_t pixel = g.pixel_stride(g.in_channels);
  for (int64_t j = 0; j < g.tiles_w(); ++j) {
    float* tile = v + (first_tile + j) * g.in_channels;
    const int64_t point_stride = g.tiles() * g.in_channels;
    for (int64_t channel = 0; channel < g.in_channels; channel += kBlock) {
      const float* x = src + g.block_offset(channel);
      const int64_t h0 = kTile * i - 1, w0 = kTile * j - 1;
      const bool interior = h0 >= 0 && h0 + kInputTile <= g.height && w0 >= 0 && w0 + kInputTile <= g.width;
      // rows[r][c] = (B^T d)[r][c], column by column.
      Lanes rows[kInputTile][kInputTile];
#pragma GCC unroll 6
      for (int64_t c = 0; c < kInputTile; ++c) {
        Lanes column[kInputTile], out[kInputTile];
        const int64_t w = w0 + c;
#pragma GCC unroll 6
        for (int64_t r = 0; r < kInputTile; ++r) {
          const int64_t h = h0 + r;
          if (interior || (h >= 0 && h < g.height && w >= 0 && w < g.width)) {
            load(column[r], x + (h * g.width + w) * pixel);
          } else {
            column[r] = Lanes{};
          }
        }
        input_1d(column, out);
#pragma GCC unroll 6
        for (int64_t r = 0; r < kInputTile; ++r) rows[r][c] = out[r];
      }
#pragma GCC unroll 6
      for (int64_t r = 0; r < kInputTile; ++r) {
        Lanes out[kInputTile];
        input_1d(rows[r], out);
#pragma GCC unroll 6
        for (int64_t c = 0; c < kInputTile; ++c)
          store(tile + (r * kInputTile + c) * point_stride + channel, out[c]);
      }
    }
  }
}

// Tile row i of one image: m, tiles first_tile.. -> dst [K/16][H][W][16] or [H][W][K].
RESNET_AVX512_AND_BASELINE void output_tile_row(const Geometry& g, const float* m, int64_t i,
                                                int64_t first_tile, const float* bias, bool accumulate,
                                                bool relu, float* dst) {
  const int64_t pixel = g.pixel_stride(g.out_channels);
  for (int64_t j = 0; j < g.tiles_w(); ++j) {
    const float* tile = m + (first_tile + j) * g.out_channels;
    const int64_t point_stride = g.tiles() * g.out_channels;
    for (int64_t channel = 0; channel < g.out_channels; channel += kBlock) {
      float* y = dst + g.block_offset(channel);
      Lanes b{};
      if (bias) load(b, bias + channel);
      Lanes columns[kTile][kInputTile], row[kInputTile], out[kTile];
      for (int64_t r = 0; r < kInputTile; ++r) {
        for (int64_t c = 0; c < kInputTile; ++c)
          load(row[c], tile + (r * kInputTile + c) * point_stride + channel);
        output_1d(row, out);
        for (int64_t c = 0; c < kTile; ++c) columns[c][r] = out[c];
      }
      for (int64_t c = 0; c < kTile; ++c) {
        output_1d(columns[c], out);
        const int64_t w = kTile * j + c;
        for (int64_t r = 0; r < kTile; ++r) {
          const int64_t h = kTile * i + r;
          if (h >= g.height || w >= g.width) continue;
          float* at = y + (h * g.width + w) * pixel;
          Lanes value = out[r] + b;
          if (accumulate) {
            Lanes before;
            load(before, at);
            value += before;
          }
          if (relu) value = value > 0 ? value : 0;
          store(at, value);
        }
      }
    }
  }
}

// Tile row i of one image: dy [K/16][H][W][16] or [H][W][K] -> dm, tiles first_tile.. (each of a tile's 36
// rows of K channels written whole, as input_tile_row).
RESNET_AVX512_AND_BASELINE void output_gradient_tile_row(const Geometry& g, const float* dy, int64_t i,
                                                         int64_t first_tile, float* dm) {
  const int64_t pixel = g.pixel_stride(g.out_channels);
  const int64_t point_stride = g.tiles() * g.out_channels;
  for (int64_t j = 0; j < g.tiles_w(); ++j) {
    float* tile = dm + (first_tile + j) * g.out_channels;
    for (int64_t channel = 0; channel < g.out_channels; channel += kBlock) {
      const float* d = dy + g.block_offset(channel);
      const int64_t h0 = kTile * i, w0 = kTile * j;
      const bool whole = h0 + kTile <= g.height && w0 + kTile <= g.width;
      // rows[r][c] = (A dY)[r][c], column by column.
      Lanes rows[kInputTile][kTile];
#pragma GCC unroll 4
      for (int64_t c = 0; c < kTile; ++c) {
        Lanes column[kTile], out[kInputTile];
        const int64_t w = w0 + c;
#pragma GCC unroll 4
        for (int64_t r = 0; r < kTile; ++r) {
          const int64_t h = h0 + r;
          if (whole || (h < g.height && w < g.width)) {
            load(column[r], d + (h * g.width + w) * pixel);
          } else {
            column[r] = Lanes{};
          }
        }
        output_gradient_1d(column, out);
#pragma GCC unroll 6
        for (int64_t r = 0; r < kInputTile; ++r) rows[r][c] = out[r];
      }
#pragma GCC unroll 6
      for (int64_t r = 0; r < kInputTile; ++r) {
        Lanes out[kInputTile];
        output_gradient_1d(rows[r], out);
#pragma GCC unroll 6
        for (int64_t c = 0; c < kInputTile; ++c)
          store(tile + (r * kInputTile + c) * point_stride + channel, out[c]);
      }
    }
  }
}

// The weight transform's matrix: U = G g G^T.
constexpr double G[kInputTile][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};

// The weight transforms run in double over 8 filters (output channels) at a time: 8 f64 lanes.
constexpr int64_t kFilterLanes = 8;
typedef double FilterLanes __attribute__((vector_size(64)));
typedef float FloatsOfFilterLanes __attribute__((vector_size(32), aligned(4)));

// The `lanes` (<= 8) floats at p, p + stride, ... as doubles; the other lanes 0.
inline void load_filters(FilterLanes& to, const float* p, int64_t stride, int64_t lanes) {
  if (stride == 1 && lanes == kFilterLanes) {
    to = __builtin_convertvector(*reinterpret_cast<const FloatsOfFilterLanes*>(p), FilterLanes);
    return;
  }
  to = FilterLanes{};
  for (int64_t j = 0; j < lanes; ++j) to[j] = p[j * stride];
}

// u[a][b][c][k0 + j] = (G g G^T)[a][b] for the filters g = weight[k0 + j][c], j < lanes.
RESNET_AVX512_AND_BASELINE
void transform_filters(const float* weight, int64_t k0, int64_t lanes, int64_t c, int64_t out_channels,
                       int64_t in_channels, float* u) {
  const float* f = weight + (k0 * in_channels + c) * 9;
  FilterLanes g[9];
  for (int64_t x = 0; x < 9; ++x) load_filters(g[x], f + x, in_channels * 9, lanes);
  FilterLanes gg[kInputTile][3];  // G g
  for (int64_t a = 0; a < kInputTile; ++a)
    for (int64_t x = 0; x < 3; ++x) gg[a][x] = G[a][0] * g[x] + G[a][1] * g[3 + x] + G[a][2] * g[6 + x];
  for (int64_t a = 0; a < kInputTile; ++a)
    for (int64_t b = 0; b < kInputTile; ++b) {
      const FilterLanes r = gg[a][0] * G[b][0] + gg[a][1] * G[b][1] + gg[a][2] * G[b][2];
      float* to = u + ((a * kInputTile + b) * in_channels + c) * out_channels + k0;
      for (int64_t j = 0; j < lanes; ++j) to[j] = static_cast<float>(r[j]);
    }
}

// weight_grad[k0 + j][c] += G^T du[.][.][c][k0 + j] G, j < lanes (the sum in double, rounded once).
RESNET_AVX512_AND_BASELINE
void transform_filter_gradients(const float* du, int64_t k0, int64_t lanes, int64_t c, int64_t out_channels,
                                int64_t in_channels, float* weight_grad) {
  FilterLanes gt_du[3][kInputTile] = {};  // G^T dU
  for (int64_t a = 0; a < kInputTile; ++a)
    for (int64_t b = 0; b < kInputTile; ++b) {
      FilterLanes d;
      load_filters(d, du + ((a * kInputTile + b) * in_channels + c) * out_channels + k0, 1, lanes);
      for (int64_t p = 0; p < 3; ++p) gt_du[p][b] += G[a][p] * d;
    }
  for (int64_t p = 0; p < 3; ++p)
    for (int64_t q = 0; q < 3; ++q) {
      FilterLanes sum = {};
      for (int64_t b = 0; b < kInputTile; ++b) sum += gt_du[p][b] * G[b][q];
      for (int64_t j = 0; j < lanes; ++j) {
        float& f = weight_grad[((k0 + j) * in_channels + c) * 9 + p * 3 + q];
        f = static_cast<float>(f + sum[j]);
      }
    }
}

}  // namespace

void transform_weights(const float* weight, int64_t out_channels, int64_t in_channels, float* u) {
  // (Training transforms its weights at every step: the filters are independent, so threads share them, and 8
  // filters at a time fill each of the 36 planes of u in order.)
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < in_channels; ++c)
    for (int64_t k0 = 0; k0 < out_channels; k0 += kFilterLanes)
      transform_filters(weight, k0, std::min(kFilterLanes, out_channels - k0), c, out_channels, in_channels,
                        u);
}

void transform_input(const Geometry& g, const float* src, float* v) {
  const int64_t image = g.in_channels * g.height * g.width;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.tiles_h(); ++i)
      input_tile_row(g, src + n * image, i, (n * g.tiles_h() + i) * g.tiles_w(), v);
}

void transform_output(const Geometry& g, const float* m, const float* bias, bool accumulate, bool relu,
                      float* dst) {
  const int64_t image = g.out_channels * g.height * g.width;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.tiles_h(); ++i)
      output_tile_row(g, m, i, (n * g.tiles_h() + i) * g.tiles_w(), bias, accumulate, relu, dst + n * image);
}

void transform_output_gradient(const Geometry& g, const float* dy, float* dm) {
  const int64_t image = g.out_channels * g.height * g.width;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.tiles_h(); ++i)
      output_gradient_tile_row(g, dy + n * image, i, (n * g.tiles_h() + i) * g.tiles_w(), dm);
}

void transform_weights_gradient(const float* du, int64_t out_channels, int64_t in_channels,
                                float* weight_grad) {
  // (Filters are independent: threads share them; 8 filters at a time read each of the 36 planes of du in
  // order.)
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < in_channels; ++c)
    for (int64_t k0 = 0; k0 < out_channels; k0 += kFilterLanes)
      transform_filter_gradients(du, k0, std::min(kFilterLanes, out_channels - k0), c, out_channels,
                                 in_channels, weight_grad);
}

}  // namespace resnet::winograd
