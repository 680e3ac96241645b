// gemm.cpp — the kernel table (expanded from gemm_kernels.inc) and the blocked GEMM driver.
//
// BLIS-style loops: columns of B in blocks of nc (L3), depth in blocks of kc, rows of A in
// blocks of mc (L2); B's kc x nc block and A's mc x kc block are packed into micro-panels
// (zero-padded to whole tiles; A through the kernel's per-ISA packing, which transposes in
// registers) and the microkernel runs over mr x nr tiles. Threads: each owns a rectangle of
// C (a grid of row and column ranges of whole tiles, chosen by choose_grid) and runs the loops
// on it with its own packing buffers, so a run has no barrier; the operand a split repeats
// (B when the rows are split, A when the columns are) is packed by every thread that needs it.
#include "gemm/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {

using f32 = float;
using f64 = double;

// Declarations of every kernel in the list (defined in the per-ISA translation units).
#define FASTCONV_GEMM_KERNEL(isa, dtype, mr, nr, kc, mc, nc)                                    \
  void dtype##_gemm_##mr##x##nr##__##isa(std::int64_t, const dtype*, const dtype*, dtype*,      \
                                         std::int64_t, std::int64_t, bool, const dtype*);      \
  void dtype##_gemm_##mr##x##nr##__##isa##_pack_a(const dtype*, std::int64_t, std::int64_t,     \
                                                  std::int64_t, std::int64_t, dtype*);
#include "gemm/gemm_kernels.inc"
#undef FASTCONV_GEMM_KERNEL

namespace {

template <typename T>
std::vector<GemmKernel<T>> make_kernel_table() {
  std::vector<GemmKernel<T>> table;
#define FASTCONV_GEMM_KERNEL(isa, dtype, mr, nr, kc, mc, nc)                                    \
  if constexpr (std::is_same_v<T, dtype>) {                                                     \
    table.push_back({#dtype "_gemm_" #mr "x" #nr "__" #isa, int(Isa::isa),                      \
                     &dtype##_gemm_##mr##x##nr##__##isa, mr, nr, kc, mc, nc,                    \
                     &dtype##_gemm_##mr##x##nr##__##isa##_pack_a});                             \
  }
#include "gemm/gemm_kernels.inc"
#undef FASTCONV_GEMM_KERNEL
  return table;
}

template <typename T>
const std::vector<GemmKernel<T>>& kernel_table() {
  static const std::vector<GemmKernel<T>> table = make_kernel_table<T>();
  return table;
}

std::int64_t round_up(std::int64_t value, std::int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Packs depth [row0, row0 + k) x columns [col0, col0 + cols) of B into one nr-column
// micro-panel; columns past `cols` are zero.
template <typename T>
void pack_b_panel(const MatrixView<const T>& b, std::int64_t row0, std::int64_t col0, std::int64_t k,
                  std::int64_t cols, int nr, T* out) {
  const T* first_row = b.data + row0 * b.row_stride;
  if (b.col_group == 0 && b.col_stride == 1 && cols == nr) {
    for (std::int64_t p = 0; p < k; ++p) {
      const T* row = first_row + p * b.row_stride + col0;
      for (int j = 0; j < nr; ++j) out[p * nr + j] = row[j];
    }
    return;
  }
  std::int64_t offsets[64];  // nr <= 64
  for (int j = 0; j < nr; ++j) offsets[j] = j < cols ? b.col_offset(col0 + j) : 0;
  for (std::int64_t p = 0; p < k; ++p) {
    const T* row = first_row + p * b.row_stride;
    for (int j = 0; j < nr; ++j) out[p * nr + j] = j < cols ? row[offsets[j]] : T(0);
  }
}

// Adds a scratch tile into C's partial edge tile with the microkernel's semantics.
template <typename T>
void store_edge_tile(const T* tile, int nr, std::int64_t rows, std::int64_t cols,
                     const MatrixView<T>& c, bool accumulate, const T* bias) {
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      T value = tile[i * nr + j] + (bias ? bias[i] : T(0));
      T& out = c.at(i, j);
      out = accumulate ? out + value : value;
    }
  }
}

}  // namespace

template <typename T>
std::span<const GemmKernel<T>> all_gemm_kernels() {
  return kernel_table<T>();
}

template <typename T>
const GemmKernel<T>& active_gemm_kernel() {
  static const GemmKernel<T>* chosen = [] {
    const GemmKernel<T>* best = nullptr;
    for (const auto& kernel : kernel_table<T>()) {
      if (isa_enabled(Isa(kernel.isa)) && (best == nullptr || kernel.isa > best->isa)) {
        best = &kernel;
      }
    }
    return best;
  }();
  return *chosen;
}

const char* active_gemm_kernel_name(bool float32) {
  return float32 ? active_gemm_kernel<float>().name : active_gemm_kernel<double>().name;
}

// One thread's packing buffers: B's kc x nc block, then A's mc x kc block.
template <typename T>
static std::size_t slot_bytes(const GemmKernel<T>& kernel, std::int64_t m, std::int64_t n, std::int64_t k) {
  const std::int64_t kc = std::min(kernel.kc, std::max<std::int64_t>(k, 1));
  const std::int64_t mc = round_up(std::min(kernel.mc, std::max<std::int64_t>(m, 1)), kernel.mr);
  const std::int64_t nc = round_up(std::min(kernel.nc, std::max<std::int64_t>(n, 1)), kernel.nr);
  return round_up(std::int64_t(kc * (mc + nc) * std::int64_t(sizeof(T))), 64);
}

template <typename T>
std::size_t gemm_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  std::size_t bytes = 0;
  for (const auto& kernel : kernel_table<T>()) bytes = std::max(bytes, slot_bytes(kernel, m, n, k));
  return bytes * std::size_t(std::max(1, threads));
}

namespace {

// How the threads split C: rows into `row_parts` ranges of whole mr-row tiles, columns into
// `col_parts` ranges of whole nr-column tiles, one (row range, column range) per thread.
struct GemmGrid {
  std::int64_t row_tiles = 0, col_tiles = 0;  // of C
  int row_parts = 1, col_parts = 1;
};

// The grid of at most `threads` parts with the least estimated time of the slowest thread: its
// multiply-adds (lanes of FMA per cycle, ~2 * 16) plus the elements it packs (about one per
// cycle): its rows of A once per column block of nc, its columns of B once. Splitting the
// rows repeats B's packing in every row part, splitting the columns repeats A's (the weights
// of a 1x1 layer: split the columns only when there are many more pixels than channels).
template <typename T>
GemmGrid choose_grid(const GemmKernel<T>& kernel, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  const std::int64_t row_tiles = (m + kernel.mr - 1) / kernel.mr, col_tiles = (n + kernel.nr - 1) / kernel.nr;
  GemmGrid best{row_tiles, col_tiles};
  double best_cost = -1.0;
  for (int rows = 1; rows <= std::min<std::int64_t>(threads, row_tiles); ++rows) {
    // The most columns that fit (a grid may leave threads idle, e.g. 3 threads on 2 row tiles).
    const int cols = int(std::min<std::int64_t>(threads / rows, col_tiles));
    const double my_rows = double((row_tiles + rows - 1) / rows * kernel.mr);
    const double my_cols = double((col_tiles + cols - 1) / cols * kernel.nr);
    const double col_blocks = std::ceil(my_cols / double(kernel.nc));
    const double cost = my_rows * my_cols * double(k) / 32.0 + (my_rows * col_blocks + my_cols) * double(k);
    if (best_cost < 0.0 || cost < best_cost) best_cost = cost, best.row_parts = rows, best.col_parts = cols;
  }
  return best;
}

// Part `part` of `parts` of `tiles` tiles of `size` elements each, as an element range of [0, total).
std::pair<std::int64_t, std::int64_t> tile_range(std::int64_t tiles, int parts, int part, int size,
                                                 std::int64_t total) {
  const std::int64_t base = tiles / parts, extra = tiles % parts;
  const std::int64_t first = part * base + std::min<std::int64_t>(part, extra);
  const std::int64_t count = base + (part < extra ? 1 : 0);
  return {std::min(total, first * size), std::min(total, (first + count) * size)};
}

// One thread's GEMM on its part of C, BLIS loops with its own packing buffers (`slot`). Its
// columns are B's from b_col0 on (B is not shifted: a two-level walk keeps its phase).
template <typename T>
void gemm_part(const GemmKernel<T>& kernel, std::int64_t m, std::int64_t n, std::int64_t k,
               const MatrixView<const T>& a, const MatrixView<const T>& b, std::int64_t b_col0,
               const MatrixView<T>& c, bool accumulate, const T* row_bias, T* slot) {
  const int mr = kernel.mr, nr = kernel.nr;
  const std::int64_t kc_max = std::min(kernel.kc, k);
  const std::int64_t mc_max = round_up(std::min(kernel.mc, m), mr);
  const std::int64_t nc_max = round_up(std::min(kernel.nc, n), nr);
  T* packed_b = slot;
  T* packed_a = packed_b + kc_max * nc_max;
  alignas(64) T tile[16 * 64];  // scratch for edge tiles (mr * nr <= 1024)
  for (std::int64_t jc = 0; jc < n; jc += nc_max) {
    const std::int64_t nc = std::min(nc_max, n - jc);
    const std::int64_t b_panels = (nc + nr - 1) / nr;
    for (std::int64_t pc = 0; pc < k; pc += kc_max) {
      const std::int64_t kc = std::min(kc_max, k - pc);
      const bool first_depth_block = pc == 0;
      const bool accumulate_block = accumulate || !first_depth_block;
      {
        const ProfileScope scope(Phase::packing);
        for (std::int64_t jr = 0; jr < b_panels; ++jr) {
          pack_b_panel(b, pc, b_col0 + jc + jr * nr, kc, std::min<std::int64_t>(nr, nc - jr * nr), nr,
                       packed_b + jr * nr * kc);
        }
      }
      for (std::int64_t ic = 0; ic < m; ic += mc_max) {
        const std::int64_t mc = std::min(mc_max, m - ic);
        const std::int64_t a_panels = (mc + mr - 1) / mr;
        {
          const ProfileScope scope(Phase::packing);
          for (std::int64_t ir = 0; ir < a_panels; ++ir)
            kernel.pack_a(a.data + (ic + ir * mr) * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride,
                          std::min<std::int64_t>(mr, mc - ir * mr), kc, packed_a + ir * mr * kc);
        }
        const ProfileScope scope(Phase::microkernel);  // edge tiles' stores included
        for (std::int64_t jr = 0; jr < b_panels; ++jr) {
          for (std::int64_t ir = 0; ir < a_panels; ++ir) {
            const std::int64_t row = ic + ir * mr, col = jc + jr * nr;
            const std::int64_t rows = std::min<std::int64_t>(mr, m - row);
            const std::int64_t cols = std::min<std::int64_t>(nr, n - col);
            const T* bias = first_depth_block && row_bias ? row_bias + row : nullptr;
            const T* a_panel = packed_a + ir * mr * kc;
            const T* b_panel = packed_b + jr * nr * kc;
            const MatrixView<T> c_tile{&c.at(row, col), c.row_stride, c.col_stride};
            if (rows == mr && cols == nr) {
              kernel.run(kc, a_panel, b_panel, c_tile.data, c.row_stride, c.col_stride, accumulate_block, bias);
            } else {
              kernel.run(kc, a_panel, b_panel, tile, nr, 1, false, nullptr);
              store_edge_tile(tile, nr, rows, cols, c_tile, accumulate_block, bias);
            }
          }
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, MatrixView<const T> a,
          MatrixView<const T> b, MatrixView<T> c, bool accumulate, const T* row_bias,
          void* workspace, int thread_budget, const GemmKernel<T>* kernel_choice) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // C = (accumulate ? C : 0) + bias
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        const T bias = row_bias ? row_bias[i] : T(0);
        c.at(i, j) = accumulate ? c.at(i, j) + bias : bias;
      }
    }
    return;
  }
  const GemmKernel<T>& kernel = kernel_choice ? *kernel_choice : active_gemm_kernel<T>();
  const std::size_t slot_size = slot_bytes(kernel, m, n, k);
  const GemmGrid grid = choose_grid(kernel, m, n, k, threads_for_work(double(m) * double(n) * double(k), thread_budget));
  const int parts = grid.row_parts * grid.col_parts;
  parallel_team(parts, [&] {
    // (A region may get fewer threads than asked, e.g. nested: a thread then runs several parts.)
    T* slot = reinterpret_cast<T*>(static_cast<std::byte*>(workspace) + std::size_t(thread_index()) * slot_size);
    for (int part = thread_index(); part < parts; part += team_size()) {
      const auto [row_begin, row_end] = tile_range(grid.row_tiles, grid.row_parts, part / grid.col_parts, kernel.mr, m);
      const auto [col_begin, col_end] = tile_range(grid.col_tiles, grid.col_parts, part % grid.col_parts, kernel.nr, n);
      if (row_begin >= row_end || col_begin >= col_end) continue;
      gemm_part(kernel, row_end - row_begin, col_end - col_begin, k,
                MatrixView<const T>{&a.at(row_begin, 0), a.row_stride, a.col_stride},
                b, col_begin, MatrixView<T>{&c.at(row_begin, col_begin), c.row_stride, c.col_stride}, accumulate,
                row_bias ? row_bias + row_begin : nullptr, slot);
    }
  });
}

#define FASTCONV_INSTANTIATE_GEMM(T)                                                            \
  template std::span<const GemmKernel<T>> all_gemm_kernels<T>();                                \
  template const GemmKernel<T>& active_gemm_kernel<T>();                                        \
  template std::size_t gemm_workspace_bytes<T>(std::int64_t, std::int64_t, std::int64_t, int);       \
  template void gemm<T>(std::int64_t, std::int64_t, std::int64_t, MatrixView<const T>,          \
                        MatrixView<const T>, MatrixView<T>, bool, const T*, void*, int,         \
                        const GemmKernel<T>*);
FASTCONV_INSTANTIATE_GEMM(float)
FASTCONV_INSTANTIATE_GEMM(double)

}  // namespace fastconv::detail
