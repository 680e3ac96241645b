// peer.hpp — another library's forward convolution, timed beside fastconv (PyTorch, oneDNN).
//
// A Peer is a factory: prepare() sets one layer up on the caller's contiguous NC(D)(H)W float32
// src and (K, C/groups, kernel...) weight buffers — the same memory fastconv reads — with the
// peer's own thread count, and returns a PeerLayer. PeerLayer::run() is what is timed: one
// complete call as a user with NCHW tensors makes it (allocations and layout reorders included).
// dst() is the contiguous NC(D)(H)W result of the last run(), valid until the next run().
// prepare() throws std::exception when the peer cannot run the layer.
//
// Peers are compiled only when their library is found (see CMakeLists.txt); known_peers() lists
// every peer the tool knows, with a factory when built in and the reason when not.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "layer.hpp"

namespace fastconv_bench {

class PeerLayer {
 public:
  virtual ~PeerLayer() = default;
  virtual void run() = 0;
  virtual const float* dst() = 0;
  // Bytes the peer allocates for the layer beyond its output (reorder buffers, scratchpad);
  // 0 when the peer does not say (PyTorch).
  virtual std::size_t workspace_bytes() const { return 0; }
};

struct PeerProblem {
  const Layer& layer;
  const float* src;     // src_shape(layer), contiguous
  const float* weight;  // weight_shape(layer), contiguous
  int threads;
};

class Peer {
 public:
  virtual ~Peer() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const = 0;
};

struct KnownPeer {
  std::string name;                              // "torch", "onednn"
  std::function<std::unique_ptr<Peer>()> make;  // empty when not built in
  std::string unavailable_reason;                // why `make` is empty
};

std::vector<KnownPeer> known_peers();  // defined in peers/peer_registry.cpp

// Defined by peers/torch_peer.cpp and peers/onednn_peer.cpp when those are built.
std::unique_ptr<Peer> make_torch_peer();
std::unique_ptr<Peer> make_onednn_peer();

}  // namespace fastconv_bench
