// fastconv/threading.hpp — the number of threads the library's engines use.
//
// The default is OpenMP's: OMP_NUM_THREADS when set, otherwise the number of cores.
#pragma once

namespace fastconv {

void set_num_threads(int num_threads);  // n >= 1; throws fastconv::Error otherwise
int get_num_threads();

}  // namespace fastconv
