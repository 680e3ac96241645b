// few_channels_kernel.hpp — the few-channels microkernel family: output pixels in vector lanes.
//
// Contract of one kernel call (FewChannelsTile): for j < count and b < channels,
//   dst[b * dst_channel_stride + j] =
//       epilogue( sum over taps t < tap_count of  Combine(w[b / KB][t][b % KB], taps[t][j]) )
// where w = weights, packed [channel block][tap_count][KB] (zero-padded past `channels`), and each tap is a
// unit-stride source row already positioned at output pixel 0 (the engine resolves stride,
// dilation and padding into these pointers, copying a bounded window when needed). The
// epilogue (kernels/epilogue.hpp) adds bias[b], the old dst value when accumulating, and applies
// the activation. The sum starts at bias[b] (the accumulators' initial value) and adds the
// products in tap order, so integer-valued inputs give exact results.
//
// Streaming stores: with tile.stream_dst, a kernel may store whole vectors with non-temporal
// (cache-bypassing) stores when it does not accumulate and every channel row is vector-aligned;
// masked row ends use normal stores. For outputs much larger than the cache: no read for
// ownership, and the writes drain while the kernel computes. Non-temporal stores are weakly
// ordered: the caller runs few_channels_store_fence() on the storing thread before anyone else
// reads dst.
//
// Row edges: with tile.valid, the tiles reaching outside [valid_begin, valid_end) load each tap's
// vectors with the lane mask of its valid pixels.
//
// Channel blocks: channels > KB runs ceil(channels / KB) blocks in one call; block i uses the
// weights at weights + i * tap_count * KB, bias + i * KB, and dst + i * KB * dst_channel_stride
// (one store pipe across them).
//
// Register tile: KB channels x V vectors of consecutive pixels (width = V * lanes). Per tap the
// kernel loads V input vectors and broadcasts KB weights into KB * V accumulators. Row ends use a
// tile of fewer vectors whose last vector is loaded and stored with a mask (never touching memory
// past `count`). The template is written once for every ISA in plain C++ over GCC vector types
// and instantiated in few_channels_kernels_<isa>.cpp with that ISA's flags; the Isa parameter
// keeps the instantiations distinct symbols.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "isa/cpu_isa.hpp"
#include "kernels/epilogue.hpp"

namespace fastconv::detail {

template <typename T>
struct FewChannelsTile {
  const T* const* taps = nullptr;  // tap_count source rows, unit stride, at output pixel 0
  const T* weights = nullptr;      // [channel block][tap_count][KB]
  std::int64_t tap_count = 0;
  T* dst = nullptr;                // output pixel 0 of channel 0; unit stride along pixels
  std::int64_t dst_channel_stride = 0;
  std::int64_t count = 0;          // output pixels
  int channels = 0;                // channels stored, in blocks of KB (see below)
  bool stream_dst = false;         // non-temporal stores allowed (see above)
  // Row edges (optional): tap t reads its source row only at pixels [valid[2t], valid[2t + 1])
  // (0 <= valid[2t] <= valid[2t + 1] <= count); its other pixels read as zero and their memory is
  // never touched, so a tap pointer may stand before its row's start (zero padding without a
  // copy). Tiles inside [valid_begin, valid_end), where every tap is valid, run unmasked.
  const std::int64_t* valid = nullptr;
  std::int64_t valid_begin = 0, valid_end = 0;
};

// Orders this thread's non-temporal stores before its later stores (an sfence on x86).
inline void few_channels_store_fence() {
#if defined(__SSE__) || defined(__x86_64__)
  _mm_sfence();
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

template <typename T>
using FewChannelsKernelFn = void (*)(const FewChannelsTile<T>& tile, const EpilogueParams<T>& epilogue);

struct FewChannelsKernel {
  const char* name;  // f32_fewch_<kb>x<width>__<isa>
  Isa isa;
  FewChannelsKernelFn<float> run;
  int kb;     // output channels per tile
  int width;  // output pixels per full tile (V * lanes)
};

// Every kernel of few_channels_kernels.inc compiled into the library, usable or not on this CPU.
std::span<const FewChannelsKernel> all_few_channels_kernels();

// Declarations of the named entry points.
#define FASTCONV_FEW_CHANNELS_KERNEL(isa, kb, width)                                     \
  void f32_fewch_##kb##x##width##__##isa(const FewChannelsTile<float>& tile,             \
                                         const EpilogueParams<float>& epilogue);
#include "kernels/few_channels/few_channels_kernels.inc"
#undef FASTCONV_FEW_CHANNELS_KERNEL

}  // namespace fastconv::detail
