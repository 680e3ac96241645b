"""Issue 20's allocation target: on the seeds' layers, a fresh fastconv.conv2d call (the result
allocated by the library) against a call with out= (an existing result), side by side in one
run, torch tensors and numpy arrays, one thread; torch's F.conv2d under no_grad for scale.

    PYTHONPATH=build/python /usr/bin/python3 bench/fresh_vs_out_bench.py [--repeats 9]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn.functional as F

import fastconv

# The seeds' layers (tools/fastconv-bench/suites.cpp): (name, N, C, K, size, kernel, padding)
LAYERS = [("seed_1000", 3, 3, 3, 1000, 3, 0), ("seed_1024_p1", 1, 3, 16, 1024, 3, 1)]


def median_ms(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fastconv.set_num_threads(1)
    print(f"fastconv {fastconv.__version__}, torch {torch.__version__}, 1 thread; median ms of "
          f"{args.repeats} calls (each fresh result freed before the next call)")
    print(f"{'layer':14} {'kind':6} {'fresh':>9} {'out=':>9} {'fresh/out=':>10} {'F.conv2d':>9}")
    worst = 0.0
    for name, n, c, k, size, kernel, pad in LAYERS:
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, c, size, size)).astype(np.float32)
        w = rng.uniform(-1, 1, (k, c, kernel, kernel)).astype(np.float32)
        for kind in ("torch", "numpy"):
            xs, ws = (torch.from_numpy(x), torch.from_numpy(w)) if kind == "torch" else (x, w)
            out = fastconv.conv2d(xs, ws, padding=pad)
            with torch.no_grad():
                expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=pad)
            np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=1e-4, atol=1e-4)
            fresh = median_ms(lambda: fastconv.conv2d(xs, ws, padding=pad), args.repeats)
            into = median_ms(lambda: fastconv.conv2d(xs, ws, padding=pad, out=out), args.repeats)
            with torch.no_grad():
                peer = median_ms(lambda: F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                                  padding=pad), max(3, args.repeats // 3))
            worst = max(worst, fresh / into)
            print(f"{name:14} {kind:6} {fresh:9.2f} {into:9.2f} {fresh / into:9.2f}x {peer:9.2f}")
    print(f"largest fresh / out= ratio: {worst:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
