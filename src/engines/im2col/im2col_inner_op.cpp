// im2col_inner_op.cpp — see im2col_inner_op.hpp.
#include "engines/im2col/im2col_inner_op.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/inner_op_kernels.hpp"
#include "transforms/im2col.hpp"

namespace fastconv::detail {
namespace {

constexpr std::int64_t kChunkStep = 16;  // chunk widths are multiples of this (>= any vector)

std::size_t floats(std::int64_t count) { return align64(std::size_t(count) * sizeof(float)); }

// Sizes and workspace layout: [cols | dcols | g | y | out (or index) | bias row | weights | dw].
struct Setup {
  std::int64_t cg, kg, rows, pixels, chunk;
  std::size_t cols, dcols, g, y, out, bias_row, weights, dw;

  Setup(Direction direction, const ConvGeometry& geometry, std::int64_t budget_bytes)
      : cg(geometry.in_channels_per_group()), kg(geometry.out_channels_per_group()),
        rows(geometry.in_channels_per_group() * geometry.kernel_volume()), pixels(geometry.out_pixels()) {
    const std::int64_t per_column = (direction == Direction::backward_data ? 2 : 1) * rows + 3 * kg + 1;
    const std::int64_t fitting = budget_bytes / (per_column * std::int64_t(sizeof(float)));
    chunk = std::clamp<std::int64_t>(fitting / kChunkStep * kChunkStep, kChunkStep,
                                     std::max<std::int64_t>(kChunkStep, (pixels + kChunkStep - 1) / kChunkStep * kChunkStep));
    cols = floats(rows * chunk);
    dcols = direction == Direction::backward_data ? floats(rows * chunk) : 0;
    g = direction == Direction::forward ? 0 : floats(kg * chunk);
    y = floats(kg * chunk);
    out = floats(kg * chunk);
    bias_row = floats(chunk);
    weights = floats(geometry.out_channels * rows);
    dw = direction == Direction::backward_weights ? floats(kg * rows) : 0;
  }
  std::size_t bytes() const { return cols + dcols + g + y + out + bias_row + weights + dw; }
};

struct Buffers {
  float *cols, *dcols, *g, *y, *out, *bias_row, *weights, *dw;
  Buffers(const Setup& s, void* memory) {
    auto* at = static_cast<std::byte*>(memory);
    auto take = [&](std::size_t bytes) {
      float* p = reinterpret_cast<float*>(at);
      at += bytes;
      return p;
    };
    cols = take(s.cols), dcols = take(s.dcols), g = take(s.g), y = take(s.y), out = take(s.out);
    bias_row = take(s.bias_row), weights = take(s.weights), dw = take(s.dw);
  }
};

// The weights (K, C/g, k...) as a contiguous K x rows matrix.
void copy_weights(const View5<float>& weight, float* to) {
  std::int64_t i = 0;
  for (std::int64_t k = 0; k < weight.shape[0]; ++k)
    for (std::int64_t c = 0; c < weight.shape[1]; ++c)
      for (std::int64_t d = 0; d < weight.shape[2]; ++d)
        for (std::int64_t h = 0; h < weight.shape[3]; ++h)
          for (std::int64_t x = 0; x < weight.shape[4]; ++x) to[i++] = weight.at(k, c, d, h, x);
}

// The elements (n, channel, flat positions [pixels)) of a rank-5 view, visited in order:
// f(element, i) for the i-th. One stride when the spatial axes merge (NCHW, channels-last),
// else the positions decoded one by one.
template <typename F>
void for_each_position(const View5<float>& view, std::int64_t n, std::int64_t channel, PixelRange pixels, F&& f) {
  const std::int64_t width = view.shape[4], height = view.shape[3];
  const auto& st = view.strides;
  float* plane = view.plane(n, channel);
  if (const auto step = merged_stride(view, 2)) {
    for (std::int64_t p = pixels.begin; p < pixels.end; ++p) f(plane[p * *step], p - pixels.begin);
    return;
  }
  for (std::int64_t p = pixels.begin; p < pixels.end; ++p)
    f(plane[(p / (width * height)) * st[2] + (p / width % height) * st[3] + (p % width) * st[4]], p - pixels.begin);
}

// Calls chunk(n, group, pixels) for every chunk of every image and group.
template <typename Chunk>
void for_each_chunk(const ConvGeometry& g, const Setup& s, Chunk&& chunk) {
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t group = 0; group < g.groups; ++group)
      for (std::int64_t p = 0; p < s.pixels; p += s.chunk) chunk(n, group, PixelRange{p, std::min(s.pixels, p + s.chunk)});
}

// The inputs of chunk (n, group, pixels), unfolded with the pad value; columns past the chunk's
// end (up to the chunk width) zeroed, so whole-vector kernels read finite values there.
void unfold_chunk(const ConvGeometry& g, const Setup& s, const InnerOp& op, const View5<float>& src, std::int64_t n,
                  std::int64_t group, PixelRange pixels, float* cols, int threads) {
  const std::int64_t count = pixels.end - pixels.begin;
  const ImageView<const float> image{src.plane(n, 0), {src.strides[1], src.strides[2], src.strides[3], src.strides[4]}};
  im2col<float>(g, image, group * s.cg, (group + 1) * s.cg, pixels, {cols, s.chunk, 1}, threads, float(op.pad_value()));
  if (count < s.chunk)
    for (std::int64_t r = 0; r < s.rows; ++r) std::fill(cols + r * s.chunk + count, cols + (r + 1) * s.chunk, 0.0f);
}

// Runs `kernel` on row / filter blocks split over the team: `part(args, begin, end)` narrows the
// arguments to [begin, end) of `total`.
template <typename Part>
void split(std::int64_t total, std::int64_t block, double work, int threads, const custom::ColsArgs& args,
           custom::ColsFn kernel, Part&& part) {
  const std::int64_t blocks = (total + block - 1) / block;
  const int team = int(std::min<std::int64_t>(threads_for_work(work, threads), blocks));
#pragma omp parallel for schedule(static) num_threads(team)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const ProfileScope scope(Phase::microkernel);
    custom::ColsArgs mine = args;
    part(mine, b * block, std::min(total, (b + 1) * block));
    kernel(mine);
  }
}

// The column arguments of a chunk: cols, weights of `group`, and the op's parameters.
custom::ColsArgs cols_args(const Setup& s, const Buffers& b, std::int64_t group, std::int64_t count,
                           const OpParams& params) {
  custom::ColsArgs a;
  a.cols = b.cols;
  a.cols_stride = s.chunk;
  a.rows = s.rows;
  a.pixels = count;
  a.weights = b.weights + group * s.kg * s.rows;
  a.weights_stride = s.rows;
  a.filters = s.kg;
  a.params = params.floats.data();
  a.out_stride = s.chunk;
  a.g_stride = s.chunk;
  return a;
}

void by_filters(custom::ColsArgs& a, std::int64_t begin, std::int64_t end) {
  a.weights += begin * a.weights_stride;
  if (a.out) a.out += begin * a.out_stride;
  if (a.index) a.index += begin * a.out_stride;
  if (a.g) a.g += begin * a.g_stride;
  if (a.y) a.y += begin * a.g_stride;
  if (a.dweights) a.dweights += begin * a.weights_stride;
  a.filters = end - begin;
}

// y (reduced) of the chunk's filters into b.y.
void reduce_chunk(const Setup& s, const Buffers& b, const custom::OpIsaKernels& kernels, custom::ColsArgs a, int threads) {
  a.out = b.y;
  split(s.kg, 4, double(s.kg * s.rows * a.pixels), threads, a, kernels.cols_reduce, by_filters);
}

// dL/dy of the chunk in b.g (dL/dout gathered from dst, times epilogue_dy when it is not 1),
// with y in b.y when the op's gradients need it; db[k] += sum of dL/dout * epilogue_db.
void chunk_gradient(const Setup& s, const Buffers& b, const InnerOp& op, const OpParams& params,
                    const custom::OpIsaKernels& kernels, const ConvOperands<float>& x, std::int64_t n,
                    std::int64_t group, PixelRange pixels, double* db, int threads) {
  const std::int64_t count = pixels.end - pixels.begin;
  const custom::ColsArgs a = cols_args(s, b, group, count, params);
  const bool need_y = gradients_need_y(op);
  if (need_y) reduce_chunk(s, b, kernels, a, threads);
  if (!need_y) {  // out = y + b: dL/dy is dL/dout, db its sum (the common case, kept cheap)
    for (std::int64_t k = 0; k < s.kg; ++k) {
      const std::int64_t channel = group * s.kg + k;
      float* gk = b.g + k * s.chunk;
      for_each_position(x.dst, n, channel, pixels, [&](const float& element, std::int64_t q) { gk[q] = element; });
      std::fill(gk + count, gk + s.chunk, 0.0f);
      if (db) {
        double partial[8] = {};
        std::int64_t q = 0;
        for (; q + 8 <= count; q += 8)
          for (int l = 0; l < 8; ++l) partial[l] += double(gk[q + l]);
        for (; q < count; ++q) partial[0] += double(gk[q]);
        for (const double p : partial) db[channel] += p;
      }
    }
    return;
  }
  for (std::int64_t k = 0; k < s.kg; ++k) {
    const std::int64_t channel = group * s.kg + k;
    const double bias = x.forward.bias.data ? double(x.forward.bias[channel]) : 0.0;
    float* gk = b.g + k * s.chunk;
    const float* yk = b.y + k * s.chunk;
    for_each_position(x.dst, n, channel, pixels, [&](const float& element, std::int64_t q) {
      const double dout = double(element);
      const double y = need_y ? double(yk[q]) : 0.0;  // (not read by the bias epilogue's derivatives)
      if (db) db[channel] += dout * epilogue_db(op, params, y, bias);
      gk[q] = float(op.epilogue_kind() == EpilogueKind::bias ? dout : dout * epilogue_dy(op, params, y, bias));
    });
    std::fill(gk + count, gk + s.chunk, 0.0f);
  }
}

// max / min: for each (k, q) the first extreme row r of the chunk, then `route(k, q, r, dL/dy)`.
template <typename Route>
void route_extremes(const Setup& s, const Buffers& b, const custom::OpIsaKernels& kernels, custom::ColsArgs a,
                    int threads, Route&& route) {
  auto* index = reinterpret_cast<std::int32_t*>(b.out);
  a.index = index;
  split(s.kg, 4, double(s.kg * s.rows * a.pixels), threads, a, kernels.cols_argext, by_filters);
  for (std::int64_t k = 0; k < s.kg; ++k)
    for (std::int64_t q = 0; q < a.pixels; ++q) {
      const std::int32_t r = index[k * s.chunk + q];
      if (r >= 0) route(k, q, r, double(b.g[k * s.chunk + q]));
    }
}

void forward(const ConvGeometry& g, const Setup& s, const Buffers& b, const InnerOp& op, const ConvOperands<float>& x,
             int threads) {
  const OpParams params(op);
  const custom::OpIsaKernels& kernels = *active_op_kernels(op.table());
  copy_weights(x.weight, b.weights);
  for_each_chunk(g, s, [&](std::int64_t n, std::int64_t group, PixelRange pixels) {
    const std::int64_t count = pixels.end - pixels.begin;
    unfold_chunk(g, s, op, x.src, n, group, pixels, b.cols, threads);
    custom::ColsArgs a = cols_args(s, b, group, count, params);
    a.out = b.out;
    split(s.kg, 4, double(s.kg * s.rows * count), threads, a, kernels.cols_reduce, by_filters);
    const ProfileScope scope(Phase::epilogue);
    for (std::int64_t k = 0; k < s.kg; ++k) {
      const std::int64_t channel = group * s.kg + k;
      float* row = b.out + k * s.chunk;
      apply_epilogue(op, params, kernels, row, count, x.bias.data ? x.bias[channel] : 0.0f, b.bias_row);
      for_each_position(x.dst, n, channel, pixels, [&](float& element, std::int64_t q) { element = row[q]; });
    }
  });
}

void backward_data(const ConvGeometry& g, const Setup& s, const Buffers& b, const InnerOp& op,
                   const ConvOperands<float>& x, int threads) {
  const OpParams params(op);
  const custom::OpIsaKernels& kernels = *active_op_kernels(op.table());
  const custom::OpIsaKernels& derivatives = *active_op_kernels(op.derivative_table());
  const custom::OpTable& scalar = op.derivative_table();
  copy_weights(x.weight, b.weights);
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t c = 0; c < g.in_channels; ++c)
      for_each_position(x.src, n, c, {0, g.in_pixels()}, [](float& element, std::int64_t) { element = 0.0f; });
  for_each_chunk(g, s, [&](std::int64_t n, std::int64_t group, PixelRange pixels) {
    const std::int64_t count = pixels.end - pixels.begin;
    unfold_chunk(g, s, op, x.forward.src, n, group, pixels, b.cols, threads);
    chunk_gradient(s, b, op, params, kernels, x, n, group, pixels, nullptr, threads);
    custom::ColsArgs a = cols_args(s, b, group, count, params);
    a.g = b.g;
    a.y = b.y;
    a.dcols = b.dcols;
    if (op.reduce() == Reduce::max || op.reduce() == Reduce::min) {
      std::fill(b.dcols, b.dcols + s.rows * s.chunk, 0.0f);
      route_extremes(s, b, kernels, a, threads, [&](std::int64_t k, std::int64_t q, std::int32_t r, double dy) {
        const double value = b.cols[r * s.chunk + q], w = a.weights[k * s.rows + r];
        b.dcols[r * s.chunk + q] += float(dy * scalar.combine_dx(value, w, params.values.data()));
      });
    } else {
      split(s.rows, 8, double(s.kg * s.rows * count), threads, a, derivatives.cols_backward_data,
            [](custom::ColsArgs& part, std::int64_t begin, std::int64_t end) {
              part.cols += begin * part.cols_stride;
              part.dcols += begin * part.cols_stride;
              part.weights += begin;
              part.rows = end - begin;
            });
    }
    const ImageView<float> image{x.src.plane(n, 0), {x.src.strides[1], x.src.strides[2], x.src.strides[3], x.src.strides[4]}};
    col2im_accumulate<float>(g, {b.dcols, s.chunk, 1}, image, group * s.cg, (group + 1) * s.cg, pixels, threads);
  });
}

void backward_weights(const ConvGeometry& g, const Setup& s, const Buffers& b, const InnerOp& op,
                      const ConvOperands<float>& x, int threads) {
  const OpParams params(op);
  const custom::OpIsaKernels& kernels = *active_op_kernels(op.table());
  const custom::OpIsaKernels& derivatives = *active_op_kernels(op.derivative_table());
  const custom::OpTable& scalar = op.derivative_table();
  copy_weights(x.forward.weight, b.weights);
  std::vector<double> db(std::size_t(g.out_channels), 0.0);
  for (std::int64_t group = 0; group < g.groups; ++group) {
    std::fill(b.dw, b.dw + s.kg * s.rows, 0.0f);
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t p = 0; p < s.pixels; p += s.chunk) {
        const PixelRange pixels{p, std::min(s.pixels, p + s.chunk)};
        const std::int64_t count = pixels.end - pixels.begin;
        unfold_chunk(g, s, op, x.src, n, group, pixels, b.cols, threads);
        chunk_gradient(s, b, op, params, kernels, x, n, group, pixels, x.bias.data ? db.data() : nullptr, threads);
        custom::ColsArgs a = cols_args(s, b, group, count, params);
        a.g = b.g;
        a.y = b.y;
        a.dweights = b.dw;
        if (op.reduce() == Reduce::max || op.reduce() == Reduce::min) {
          route_extremes(s, b, kernels, a, threads, [&](std::int64_t k, std::int64_t q, std::int32_t r, double dy) {
            const double value = b.cols[r * s.chunk + q], w = a.weights[k * s.rows + r];
            b.dw[k * s.rows + r] += float(dy * scalar.combine_dw(value, w, params.values.data()));
          });
        } else {
          split(s.kg, 2, double(s.kg * s.rows * count), threads, a, derivatives.cols_backward_weights, by_filters);
        }
      }
    for (std::int64_t k = 0; k < s.kg; ++k)
      for (std::int64_t c = 0; c < s.cg; ++c)
        for (std::int64_t t = 0; t < g.kernel_volume(); ++t)
          x.weight.at(group * s.kg + k, c, t / (g.kernel[1] * g.kernel[2]), t / g.kernel[2] % g.kernel[1],
                      t % g.kernel[2]) = b.dw[k * s.rows + c * g.kernel_volume() + t];
  }
  if (x.bias.data)
    for (std::int64_t k = 0; k < g.out_channels; ++k) x.bias[k] = float(db[std::size_t(k)]);
}

}  // namespace

std::size_t im2col_op_workspace_bytes(Direction direction, const ConvGeometry& geometry, std::int64_t budget_bytes) {
  return Setup(direction, geometry, budget_bytes).bytes();
}

void im2col_op_run(Direction direction, const ConvGeometry& geometry, std::int64_t budget_bytes, const InnerOp& op,
                   const ConvOperands<float>& operands, void* workspace, int threads) {
  const Setup s(direction, geometry, budget_bytes);
  const Buffers b(s, workspace);
  switch (direction) {
    case Direction::forward: forward(geometry, s, b, op, operands, threads); break;
    case Direction::backward_data: backward_data(geometry, s, b, op, operands, threads); break;
    case Direction::backward_weights: backward_weights(geometry, s, b, op, operands, threads); break;
  }
}

}  // namespace fastconv::detail
