// fastconv/threading.hpp — the number of threads the library's engines use.
//
// The default: OMP_NUM_THREADS when set, otherwise the number of processors available.
#pragma once

namespace fastconv {

void set_num_threads(int num_threads);  // n >= 1; throws fastconv::Error otherwise
int get_num_threads();

}  // namespace fastconv
