// peer_registry.cpp — the peers fastconv-bench knows (in cli.hpp's kPeerNames order), and which
// of them this build contains (FASTCONV_BENCH_WITH_TORCH / FASTCONV_BENCH_WITH_ONEDNN are set
// by CMakeLists.txt; libtorch gives the torch, torch_cl and torch_unfold peers, oneDNN the
// onednn, onednn_blocked and onednn_winograd peers).
#include "peers/peer.hpp"

namespace fastconv_bench {

std::vector<KnownPeer> known_peers() {
#ifdef FASTCONV_BENCH_WITH_TORCH
  const KnownPeer torch{"torch", make_torch_peer, ""};
  const KnownPeer torch_cl{"torch_cl", make_torch_cl_peer, ""};
  const KnownPeer torch_unfold{"torch_unfold", make_torch_unfold_peer, ""};
#else
  const std::string no_torch = "built without libtorch (Debian: libtorch-dev)";
  const KnownPeer torch{"torch", nullptr, no_torch};
  const KnownPeer torch_cl{"torch_cl", nullptr, no_torch};
  const KnownPeer torch_unfold{"torch_unfold", nullptr, no_torch};
#endif
#ifdef FASTCONV_BENCH_WITH_ONEDNN
  const KnownPeer onednn{"onednn", make_onednn_peer, ""};
  const KnownPeer onednn_blocked{"onednn_blocked", make_onednn_blocked_peer, ""};
  const KnownPeer onednn_winograd{"onednn_winograd", make_onednn_winograd_peer, ""};
#else
  const std::string no_onednn = "built without oneDNN (Debian: libdnnl-dev)";
  const KnownPeer onednn{"onednn", nullptr, no_onednn};
  const KnownPeer onednn_blocked{"onednn_blocked", nullptr, no_onednn};
  const KnownPeer onednn_winograd{"onednn_winograd", nullptr, no_onednn};
#endif
  return {torch, torch_cl, onednn, onednn_blocked, onednn_winograd, torch_unfold};
}

}  // namespace fastconv_bench
