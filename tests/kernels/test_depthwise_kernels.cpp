// The depthwise engine's kernel families against a naive loop, per ISA this CPU allows (every
// level up to FASTCONV_MAX_ISA), float32 and float64, integer-valued data so comparisons are exact:
//   plane kernels (depthwise_plane_kernels.hpp): fill + taps + store of a band of output rows on
//     random shapes — kernel 1..5, stride 1..3, dilation 1..3, asymmetric padding, a band that
//     starts inside the image, strided source and destination rows, and every epilogue (bias,
//     accumulate, relu, clamp);
//   direct kernel (depthwise_direct_kernels.hpp, where the ISA has one): stride-1 "same"-width
//     planes, 1..2 depth slices, every epilogue; planes of 1..70 rows cross every vector remainder.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/depthwise/depthwise_direct_kernels.hpp"
#include "kernels/depthwise/depthwise_plane_kernels.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {

// The ISAs of depthwise_kernels.inc's float entries (each ISA has its float and double sets).
constexpr Isa kIsas[] = {
#define FASTCONV_DEPTHWISE_KERNELS(isa, type) FASTCONV_IF_FLOAT_##type(Isa::isa)
#define FASTCONV_IF_FLOAT_float(...) __VA_ARGS__,
#define FASTCONV_IF_FLOAT_double(...)
#include "kernels/depthwise/depthwise_kernels.inc"
#undef FASTCONV_IF_FLOAT_double
#undef FASTCONV_IF_FLOAT_float
#undef FASTCONV_DEPTHWISE_KERNELS
};
constexpr int kCases = 300;

struct Rng {
  std::mt19937_64 engine;
  explicit Rng(std::uint64_t seed) : engine(seed) {}
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine);
  }
};

template <typename T>
EpilogueParams<T> random_epilogue(Rng& rng, const T* bias) {
  EpilogueParams<T> epilogue;
  epilogue.bias = rng.uniform(0, 1) ? bias : nullptr;
  epilogue.accumulate = rng.uniform(0, 1) == 1;
  epilogue.activation = Activation(rng.uniform(0, 2));
  epilogue.clamp_min = T(-20);
  epilogue.clamp_max = T(25);
  return epilogue;
}

template <typename T>
T finish(T sum, T old, const EpilogueParams<T>& epilogue) {
  T value = sum + (epilogue.bias ? epilogue.bias[0] : T(0)) + (epilogue.accumulate ? old : T(0));
  return apply_activation_scalar(value, epilogue);
}

template <typename T>
const DepthwisePlaneKernels<T>& plane_kernels(Isa isa) {
  switch (isa) {
    case Isa::avx512: return depthwise_plane_kernels<Isa::avx512, T>();
    case Isa::avx2: return depthwise_plane_kernels<Isa::avx2, T>();
    case Isa::scalar: break;
  }
  return depthwise_plane_kernels<Isa::scalar, T>();
}

template <typename T>
const DepthwiseDirectKernel<T>& direct_kernel(Isa isa) {
  switch (isa) {
    case Isa::avx512: return depthwise_direct_kernel<Isa::avx512, T>();
    case Isa::avx2: return depthwise_direct_kernel<Isa::avx2, T>();
    case Isa::scalar: break;
  }
  return depthwise_direct_kernel<Isa::scalar, T>();
}

template <typename T>
void check_plane_kernels(Isa isa) {
  const DepthwisePlaneKernels<T>& kernels = plane_kernels<T>(isa);
  Rng rng(0xD3 + int(isa));
  for (int c = 0; c < kCases; ++c) {
    const std::int64_t kh_n = rng.uniform(1, 5), kw_n = rng.uniform(1, 5);
    const std::int64_t sh = rng.uniform(1, 3), sw = rng.uniform(1, 3);
    const std::int64_t dh = rng.uniform(1, 3), dw = rng.uniform(1, 3);
    const std::int64_t pt = rng.uniform(0, 3), pb = rng.uniform(0, 3);
    const std::int64_t pl = rng.uniform(0, 3), pr = rng.uniform(0, 3);
    const std::int64_t in_h = rng.uniform(1, 30), in_w = rng.uniform(1, 40);
    const std::int64_t ext_h = dh * (kh_n - 1) + 1, ext_w = dw * (kw_n - 1) + 1;
    if (in_h + pt + pb < ext_h || in_w + pl + pr < ext_w) continue;
    const std::int64_t out_h = (in_h + pt + pb - ext_h) / sh + 1;
    const std::int64_t out_w = (in_w + pl + pr - ext_w) / sw + 1;
    const std::int64_t src_col_step = rng.uniform(1, 2), dst_col_step = rng.uniform(1, 3);
    // The buffer layout, as the engine plans it (independently written).
    std::vector<std::int64_t> phase_row, phase_col, offsets;
    std::int64_t max_sh = 0, max_sw = 0;
    for (std::int64_t kh = 0; kh < kh_n; ++kh)
      for (std::int64_t kw = 0; kw < kw_n; ++kw)
        max_sh = std::max(max_sh, kh * dh / sh), max_sw = std::max(max_sw, kw * dw / sw);
    const std::int64_t first_row = rng.uniform(0, out_h - 1);
    const std::int64_t rows = rng.uniform(1, out_h - first_row);
    const std::int64_t pitch = out_w + max_sw, phase_rows = rows + max_sh;
    std::vector<std::int64_t> slot_of(std::size_t(sh * sw), -1);
    for (std::int64_t kh = 0; kh < kh_n; ++kh) {
      for (std::int64_t kw = 0; kw < kw_n; ++kw) {
        const std::int64_t phase = (kh * dh % sh) * sw + kw * dw % sw;
        if (slot_of[std::size_t(phase)] < 0) {
          slot_of[std::size_t(phase)] = std::int64_t(phase_row.size());
          phase_row.push_back(kh * dh % sh);
          phase_col.push_back(kw * dw % sw);
        }
        offsets.push_back(slot_of[std::size_t(phase)] * phase_rows * pitch + kh * dh / sh * pitch +
                          kw * dw / sw);
      }
    }
    PlaneLayout layout;
    layout.in_h = in_h, layout.in_w = in_w, layout.pad_h = pt, layout.pad_w = pl;
    layout.stride_h = sh, layout.stride_w = sw;
    layout.src_row_step = in_w * src_col_step + 1, layout.src_col_step = src_col_step;
    layout.pitch = pitch, layout.phase_rows = phase_rows;
    layout.phase_count = int(phase_row.size());
    layout.phase_row = phase_row.data(), layout.phase_col = phase_col.data();
    layout.taps = int(offsets.size()), layout.tap_offsets = offsets.data();
    layout.out_w = out_w, layout.dst_row_step = out_w * dst_col_step + 2;
    layout.dst_col_step = dst_col_step;

    std::vector<T> src(std::size_t(in_h * layout.src_row_step)), weights(offsets.size());
    for (T& v : src) v = T(rng.uniform(-4, 4));
    for (T& v : weights) v = T(rng.uniform(-3, 3));
    const T bias = T(rng.uniform(-5, 5));
    const EpilogueParams<T> epilogue = random_epilogue(rng, &bias);
    std::vector<T> dst(std::size_t(rows * layout.dst_row_step));
    for (T& v : dst) v = T(rng.uniform(-9, 9));
    const std::vector<T> old = dst;
    std::vector<T> buffer(std::size_t(layout.phase_count * phase_rows * pitch + kPlaneSlack), T(0));
    std::vector<T> acc(std::size_t(rows * pitch + kPlaneSlack), T(0));

    kernels.fill(buffer.data(), layout, src.data(), first_row);
    kernels.taps(acc.data(), (rows - 1) * pitch + out_w, buffer.data(), layout, weights.data(), false);
    kernels.store(dst.data(), layout, acc.data(), rows, epilogue, 0);

    int failures = 0;
    for (std::int64_t r = 0; r < rows && failures < 3; ++r) {
      for (std::int64_t ow = 0; ow < out_w; ++ow) {
        T sum = T(0);
        for (std::int64_t kh = 0; kh < kh_n; ++kh) {
          for (std::int64_t kw = 0; kw < kw_n; ++kw) {
            const std::int64_t ih = (first_row + r) * sh + kh * dh - pt, iw = ow * sw + kw * dw - pl;
            if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w)
              sum += weights[std::size_t(kh * kw_n + kw)] * src[std::size_t(ih * layout.src_row_step + iw * src_col_step)];
          }
        }
        const std::size_t at = std::size_t(r * layout.dst_row_step + ow * dst_col_step);
        const T expected = finish(sum, old[at], epilogue);
        if (dst[at] != expected && ++failures <= 3)
          ADD_FAILURE() << isa_name(isa) << " case " << c << ": k " << kh_n << "x" << kw_n << " s " << sh
                        << "," << sw << " d " << dh << "," << dw << " pad " << pt << "," << pb << "," << pl
                        << "," << pr << " in " << in_h << "x" << in_w << " rows " << first_row << "+" << rows
                        << " at (" << r << "," << ow << "): " << dst[at] << " != " << expected;
      }
    }
  }
}

template <typename T>
void check_direct_kernel(Isa isa) {
  const DepthwiseDirectKernel<T>& kernel = direct_kernel<T>(isa);
  if (kernel.run == nullptr) {
    // Only AVX-512 has the copy-free direct kernel (it relies on masked loads); the other ISAs
    // run those planes through the band kernels, which the other tests here cover.
    EXPECT_NE(isa, Isa::avx512) << "the AVX-512 direct kernel is missing";
    return;
  }
  Rng rng(0xD7 + int(isa));
  for (int c = 0; c < kCases; ++c) {
    const std::int64_t kh_n = rng.uniform(1, 5), kw_n = rng.uniform(1, 5);
    const std::int64_t dh = rng.uniform(1, 2), dw = rng.uniform(1, 2);
    const std::int64_t pt = rng.uniform(0, 3), pb = rng.uniform(0, 3);
    const std::int64_t pl = rng.uniform(0, dw * (kw_n - 1)), pr = dw * (kw_n - 1) - pl;  // same width
    const std::int64_t in_h = rng.uniform(1, 70), width = rng.uniform(1, 40);
    const std::int64_t ext_h = dh * (kh_n - 1) + 1;
    if (in_h + pt + pb < ext_h) continue;
    const std::int64_t out_h = in_h + pt + pb - ext_h + 1;
    const int slices = int(rng.uniform(1, 2));
    std::vector<std::int64_t> offsets;
    std::vector<std::uint16_t> masks;
    DirectLayout layout;
    layout.count = out_h * width;
    layout.blocks = (layout.count + kernel.lanes - 1) / kernel.lanes;
    for (std::int64_t kh = 0; kh < kh_n; ++kh)
      for (std::int64_t kw = 0; kw < kw_n; ++kw) offsets.push_back((kh * dh - pt) * width + kw * dw - pl);
    for (std::int64_t block = 0; block < layout.blocks; ++block) {
      for (std::int64_t kh = 0; kh < kh_n; ++kh) {
        for (std::int64_t kw = 0; kw < kw_n; ++kw) {
          std::uint16_t mask = 0;
          for (std::int64_t lane = 0; lane < kernel.lanes; ++lane) {
            const std::int64_t i = block * kernel.lanes + lane;
            const std::int64_t ih = i / width + kh * dh - pt, iw = i % width + kw * dw - pl;
            if (i < layout.count && ih >= 0 && ih < in_h && iw >= 0 && iw < width)
              mask = std::uint16_t(mask | (1u << lane));
          }
          masks.push_back(mask);
        }
      }
    }
    layout.taps = int(offsets.size()), layout.tap_offsets = offsets.data(), layout.masks = masks.data();
    std::vector<std::vector<T>> planes(std::size_t(slices), std::vector<T>(std::size_t(in_h * width)));
    std::vector<const T*> slice_pointers;
    for (auto& plane : planes) {
      for (T& v : plane) v = T(rng.uniform(-4, 4));
      slice_pointers.push_back(plane.data());
    }
    std::vector<T> weights(std::size_t(slices) * offsets.size());
    for (T& v : weights) v = T(rng.uniform(-3, 3));
    const T bias = T(rng.uniform(-5, 5));
    const EpilogueParams<T> epilogue = random_epilogue(rng, &bias);
    std::vector<T> dst(std::size_t(layout.count));
    for (T& v : dst) v = T(rng.uniform(-9, 9));
    const std::vector<T> old = dst;
    kernel.run(dst.data(), slice_pointers.data(), slices, weights.data(), layout, epilogue, 0);
    int failures = 0;
    for (std::int64_t oh = 0; oh < out_h; ++oh) {
      for (std::int64_t ow = 0; ow < width; ++ow) {
        T sum = T(0);
        for (int s = 0; s < slices; ++s)
          for (std::int64_t kh = 0; kh < kh_n; ++kh)
            for (std::int64_t kw = 0; kw < kw_n; ++kw) {
              const std::int64_t ih = oh + kh * dh - pt, iw = ow + kw * dw - pl;
              if (ih >= 0 && ih < in_h && iw >= 0 && iw < width)
                sum += weights[std::size_t(s) * offsets.size() + std::size_t(kh * kw_n + kw)] *
                       planes[std::size_t(s)][std::size_t(ih * width + iw)];
            }
        const std::size_t at = std::size_t(oh * width + ow);
        const T expected = finish(sum, old[at], epilogue);
        if (dst[at] != expected && ++failures <= 3)
          ADD_FAILURE() << isa_name(isa) << " case " << c << ": k " << kh_n << "x" << kw_n << " d " << dh
                        << "," << dw << " pad " << pt << "," << pb << "," << pl << "," << pr << " in "
                        << in_h << "x" << width << " slices " << slices << " at (" << oh << "," << ow
                        << "): " << dst[at] << " != " << expected;
      }
    }
  }
}

class DepthwiseKernels : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_enabled(GetParam())) GTEST_SKIP() << isa_name(GetParam()) << " not enabled on this CPU";
  }
};

TEST_P(DepthwiseKernels, PlaneKernelsF32) { check_plane_kernels<float>(GetParam()); }
TEST_P(DepthwiseKernels, PlaneKernelsF64) { check_plane_kernels<double>(GetParam()); }
TEST_P(DepthwiseKernels, DirectKernelF32) { check_direct_kernel<float>(GetParam()); }
TEST_P(DepthwiseKernels, DirectKernelF64) { check_direct_kernel<double>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Isas, DepthwiseKernels, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace fastconv::detail
