"""Issue 19's targets for fastconv.custom_conv2d, side by side in one run, one thread:

  1. AdderNet layer (N16, 16->16, 32x32, 3x3, pad 1), forward + backward (input, weight, bias):
     fastconv.custom_conv2d (AdderNet's surrogate gradients) vs the unfold recipe (torch
     autograd through unfold + broadcast + sum) vs fastconv.conv2d and F.conv2d;
  2. forward pair-operations per second (N K OH OW C kh kw / time) of that layer;
  3. peak memory of forward + backward on N32, 32->32, 64x64, 3x3: each case in a fresh process,
     the growth of its RSS over the run (sampled; inputs allocated before), custom vs F.conv2d.

    PYTHONPATH=build/python /usr/bin/python3 bench/custom_ops_bench.py [--repeats 5]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.nn.functional as F

import fastconv

ADDER = dict(combine="-abs(x - w)", grad={"x": "clamp(w - x, -1, 1)", "w": "x - w"})


def unfold_adder(x, w, b):
    """The recipe fastconv replaces: -sum |x - w| over unfolded windows, by autograd."""
    n, c, h, width = x.shape
    k = w.shape[0]
    cols = F.unfold(x, 3, padding=1)                                   # N, C*9, L
    out = -(cols[:, None] - w.view(1, k, -1, 1)).abs().sum(2)          # N, K, L
    return out.view(n, k, h, width) + b.view(1, k, 1, 1)


CASES = {
    "custom_conv2d adder": lambda x, w, b: fastconv.custom_conv2d(x, w, b, padding=1, **ADDER),
    "unfold recipe adder": unfold_adder,
    "fastconv.conv2d": lambda x, w, b: fastconv.conv2d(x, w, b, padding=1),
    "F.conv2d": lambda x, w, b: F.conv2d(x, w, b, padding=1),
}


def operands(n, c, k, size, requires_grad=True):
    torch.manual_seed(0)
    x = torch.randn(n, c, size, size, requires_grad=requires_grad)
    w = torch.randn(k, c, 3, 3, requires_grad=requires_grad)
    b = torch.randn(k, requires_grad=requires_grad)
    return x, w, b


def timed(function, repeats, min_time=0.3):
    function()  # warm-up
    times = []
    while len(times) < repeats or sum(times) < min_time:
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fwd_bwd(case, x, w, b):
    def run():
        x.grad = w.grad = b.grad = None
        CASES[case](x, w, b).sum().backward()
    return run


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def memory_child(case, n, c, k, size):
    """Peak RSS growth over one forward + backward, sampled every ~0.2 ms by a thread (the
    process' lifetime peak, ru_maxrss, is set by importing torch, not by the run)."""
    x, w, b = operands(n, c, k, size)
    run = fwd_bwd(case, x, w, b)
    before = _rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    run()
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _rss_bytes())
    print(json.dumps({"peak_growth_mib": (peak[0] - before) / 2 ** 20}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fastconv.set_num_threads(1)
    if args.memory_child:
        case, *sizes = args.memory_child
        memory_child(case, *map(int, sizes))
        return
    print(f"fastconv {fastconv.__version__}, torch {torch.__version__}, 1 thread")
    x, w, b = operands(16, 16, 16, 32)
    results = {case: timed(fwd_bwd(case, x, w, b), args.repeats) for case in CASES}
    print("AdderNet layer N16 16->16 32x32 3x3 pad 1, forward + backward, median ms:")
    for case, seconds in results.items():
        print(f"  {case:22s} {seconds * 1e3:9.2f}")
    custom = results["custom_conv2d adder"]
    print(f"  custom vs unfold recipe: {results['unfold recipe adder'] / custom:.1f}x faster "
          "(target >= 50x)")
    print(f"  custom vs fastconv.conv2d: {custom / results['fastconv.conv2d']:.2f}x the time "
          "(target <= 3x)")
    xf, wf, bf = (t.detach() for t in (x, w, b))
    forward = timed(lambda: fastconv.custom_conv2d(xf, wf, bf, padding=1, **ADDER), args.repeats)
    pairs = 16 * 16 * 32 * 32 * 16 * 9
    print(f"forward: {forward * 1e3:.2f} ms, {pairs / forward / 1e9:.1f} G pair-ops/s "
          "(target >= 20 on AVX-512)")
    print("peak memory growth of forward + backward, N32 32->32 64x64 3x3 (fresh process each):")
    memory = {}
    for case in ("custom_conv2d adder", "F.conv2d", "fastconv.conv2d"):
        run = subprocess.run([sys.executable, __file__, "--memory-child", case, "32", "32", "32",
                              "64"], capture_output=True, text=True, check=True)
        memory[case] = json.loads(run.stdout.strip().splitlines()[-1])["peak_growth_mib"]
        print(f"  {case:22s} {memory[case]:8.1f} MiB")
    print(f"  custom / F.conv2d: {memory['custom_conv2d adder'] / memory['F.conv2d']:.2f} "
          "(target <= 1.5)")


if __name__ == "__main__":
    main()
