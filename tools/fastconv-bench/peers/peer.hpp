// peer.hpp — another library's convolution, timed beside fastconv (PyTorch with NCHW or
// channels_last tensors, oneDNN from NCHW buffers or in its own blocked layouts, direct or
// Winograd, PyTorch's unfold recipe for custom inner operations).
//
// A Peer is a factory: prepare() sets one layer, direction (direction.hpp) and inner operation
// (fastconv/inner_op.hpp; the plain convolution unless --op says otherwise) up on the caller's
// contiguous float32 buffers of the forward layer's src (N, C, in...), weight (K, C/groups, k...)
// and dst (N, K, out...) shapes — the same memory fastconv reads; the buffer the direction
// writes is null — with the peer's own thread count, and returns a PeerLayer. The gradients of
// an operation other than the convolution also get the forward operand they read
// (forward_src for bwd_d, forward_weight for bwd_w), as fastconv's plans do.
// PeerLayer::run() is what is timed: one complete call as the peer's user makes it (a user with
// NCHW tensors for torch and onednn: layout reorders included; a user tuning the layout for
// torch_cl and the blocked oneDNN peers: inputs already in the layout the peer wants). With
// PeerProblem::allocate_output (the default, --alloc call) run() allocates the memory it writes
// its output to, as a user's call allocates its result; without it (--alloc none) that memory
// is allocated before timing and reused (torch, which has no out= for convolutions, then gets a
// CPU allocator that reuses freed blocks: torch_reuse_allocator.hpp). result() is the
// contiguous output of the last run() (shape role_shape(layer, output_role(direction))), valid
// until the next run(); any conversion it needs (channels_last or blocked to plain) is done
// there, outside the timed run().
// prepare() throws PeerUnsupported when the peer cannot express the problem (a skipped row: e.g.
// an operation other than the convolution for the torch and onednn peers) and any other
// std::exception when it fails.
//
// Peers are compiled only when their library is found (see CMakeLists.txt); known_peers() lists
// every peer the tool knows, with a factory when built in and the reason when not.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastconv/inner_op.hpp"
#include "layer.hpp"

namespace fastconv_bench {

class PeerLayer {
 public:
  virtual ~PeerLayer() = default;
  virtual void run() = 0;
  virtual const float* result() = 0;
  // Bytes the peer allocates for the layer beyond its output (reorder buffers, scratchpad);
  // 0 when the peer does not say (PyTorch).
  virtual std::size_t workspace_bytes() const { return 0; }
};

struct PeerProblem {
  const Layer& layer;
  Direction direction = Direction::forward;
  const float* src = nullptr;     // src_shape(layer), contiguous; null when it is the output
  const float* weight = nullptr;  // weight_shape(layer), contiguous; null when it is the output
  const float* dst = nullptr;     // dst_shape(layer), contiguous; null when it is the output
  int threads = 1;
  fastconv::InnerOp op{};  // what is computed; the default is the plain convolution
  // The forward operand the gradient of an operation other than the convolution reads
  // (forward_operand_role()): the forward's x for bwd_d, its w for bwd_w; null otherwise (also
  // for the plain convolution's gradients, which do not read them).
  const float* forward_src = nullptr;     // src_shape(layer), contiguous
  const float* forward_weight = nullptr;  // weight_shape(layer), contiguous
  // run() allocates the memory of its output (true) or reuses memory allocated before timing.
  bool allocate_output = true;
};

// The reason of the PeerUnsupported thrown by a peer that computes only the plain convolution
// (mul_sum, pad value 0), for any other `op`.
inline std::string convolution_only_reason(const std::string& peer, const fastconv::InnerOp& op) {
  std::ostringstream reason;
  reason << peer << " computes only the plain convolution (mul_sum, pad value 0), not "
         << op.table().name;
  if (op.pad_value() != 0.0) reason << " with pad value " << op.pad_value();
  if (op.epilogue_kind() != fastconv::EpilogueKind::bias) reason << " (" << op.description() << ")";
  reason << "; --compare torch_unfold times the unfold recipe of any catalog op";
  return reason.str();
}

// The peer has no way to run this problem (e.g. a direction it lacks): the row is skipped.
class PeerUnsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Peer {
 public:
  virtual ~Peer() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const = 0;
};

struct KnownPeer {
  std::string name;                              // "torch", "onednn", ... (cli.hpp's kPeerNames)
  std::function<std::unique_ptr<Peer>()> make;  // empty when not built in
  std::string unavailable_reason;                // why `make` is empty
};

std::vector<KnownPeer> known_peers();  // defined in peers/peer_registry.cpp

// Defined by peers/torch_peer.cpp, peers/torch_unfold_peer.cpp and peers/onednn_peer.cpp when
// those are built.
std::unique_ptr<Peer> make_torch_peer();     // NCHW tensors
std::unique_ptr<Peer> make_torch_cl_peer();  // channels_last tensors
std::unique_ptr<Peer> make_torch_unfold_peer();
std::unique_ptr<Peer> make_onednn_peer();           // NCHW buffers, reorders in every call
std::unique_ptr<Peer> make_onednn_blocked_peer();   // the primitive's layouts, reordered once
std::unique_ptr<Peer> make_onednn_winograd_peer();  // the same with convolution_winograd

}  // namespace fastconv_bench
