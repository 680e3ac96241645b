// peer_registry.cpp — the peers fastconv-bench knows, and which of them this build contains
// (FASTCONV_BENCH_WITH_TORCH / FASTCONV_BENCH_WITH_ONEDNN are set by CMakeLists.txt).
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
  return peers;
}

}  // namespace fastconv_bench
