// peer_registry.cpp — the peers fastconv-bench knows (in cli.hpp's kPeerNames order), and which
// of them this build contains (FASTCONV_BENCH_WITH_TORCH / FASTCONV_BENCH_WITH_ONEDNN are set
// by CMakeLists.txt; libtorch gives both the torch and the torch_unfold peer).
#include "peers/peer.hpp"

namespace fastconv_bench {

std::vector<KnownPeer> known_peers() {
  std::vector<KnownPeer> peers;
#ifdef FASTCONV_BENCH_WITH_TORCH
  peers.push_back({"torch", make_torch_peer, ""});
#else
  peers.push_back({"torch", nullptr, "built without libtorch (Debian: libtorch-dev)"});
#endif
#ifdef FASTCONV_BENCH_WITH_ONEDNN
  peers.push_back({"onednn", make_onednn_peer, ""});
#else
  peers.push_back({"onednn", nullptr, "built without oneDNN (Debian: libdnnl-dev)"});
#endif
#ifdef FASTCONV_BENCH_WITH_TORCH
  peers.push_back({"torch_unfold", make_torch_unfold_peer, ""});
#else
  peers.push_back({"torch_unfold", nullptr, "built without libtorch (Debian: libtorch-dev)"});
#endif
  return peers;
}

}  // namespace fastconv_bench
