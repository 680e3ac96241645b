// threading.cpp — the library-wide thread count (OpenMP's default unless set).
#include "fastconv/threading.hpp"

#include <omp.h>

#include <atomic>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv {
namespace {
std::atomic<int> configured_threads{0};  // 0: follow OpenMP (OMP_NUM_THREADS or core count)
}

void set_num_threads(int num_threads) {
  if (num_threads < 1) {
    throw Error(ErrorKind::invalid_argument,
                "set_num_threads: num_threads = " + std::to_string(num_threads) + "; expected >= 1");
  }
  configured_threads.store(num_threads);
}

int get_num_threads() {
  const int configured = configured_threads.load();
  return configured > 0 ? configured : omp_get_max_threads();
}

}  // namespace fastconv
