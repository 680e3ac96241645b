// fastconv/threading.hpp — the number of threads the library's engines use.
//
// The default: OMP_NUM_THREADS when set, otherwise the number of processors available.
//
// Forked children (fork(), Python's os.fork, multiprocessing's 'fork', torch DataLoader
// workers): GNU OpenMP's thread pool does not survive fork, so a process forked while its
// parent had more than one thread (an OpenMP pool started by fastconv, PyTorch or anyone else,
// or any other thread) runs fastconv on ONE thread for the rest of its life, and so do its own
// forked children: get_num_threads() returns 1 there, and set_num_threads(n) is validated and
// accepted but changes nothing in that process. Processes forked from a single-threaded
// parent and spawned processes (exec, multiprocessing's 'spawn' and 'forkserver') get the
// normal count. Results are the same at any thread count. The fork handler is registered when
// the library is loaded: load it (Python: import fastconv) before forking, since a process that
// first loads it after being forked cannot tell what its parent ran.
#pragma once

namespace fastconv {

void set_num_threads(int num_threads);  // n >= 1; throws fastconv::Error otherwise
int get_num_threads();                  // the count runs use (1 in a child forked as above)

}  // namespace fastconv
