// threading.cpp — the library-wide thread count.
//
// Default, decided once: OMP_NUM_THREADS (its first entry) when set to a positive number,
// otherwise the number of processors OpenMP may use. It deliberately ignores
// omp_set_num_threads() calls by other libraries in the process (PyTorch sets 1 at import on
// some machines), so fastconv's default does not depend on import order.
#include "fastconv/threading.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv {
namespace {

std::atomic<int> configured_threads{0};  // 0: the default

int default_threads() {
  static const int threads = [] {
    if (const char* value = std::getenv("OMP_NUM_THREADS")) {
      const long parsed = std::strtol(value, nullptr, 10);
      if (parsed > 0) return int(parsed);
    }
    return omp_get_num_procs() > 0 ? omp_get_num_procs() : 1;
  }();
  return threads;
}

}  // namespace

void set_num_threads(int num_threads) {
  if (num_threads < 1) {
    throw Error(ErrorKind::invalid_argument,
                "set_num_threads: num_threads = " + std::to_string(num_threads) + "; expected >= 1");
  }
  configured_threads.store(num_threads);
}

int get_num_threads() {
  const int configured = configured_threads.load();
  return configured > 0 ? configured : default_threads();
}

}  // namespace fastconv
