"""Per-call time of small convolutions through Python, side by side in one process, 1 thread
(issue 20, item 1: a tiny fastconv call costs no more than torch's F.conv2d):

  torch F.conv2d            torch.nn.functional.conv2d under torch.no_grad()
  torch nn.Conv2d           the torch module, no_grad
  fastconv.conv2d (torch)   fastconv.conv2d on the same torch tensors, no_grad
  fastconv.conv2d (numpy)   fastconv.conv2d on numpy copies
  PreparedConv (torch)      fastconv.prepare_conv(x, w, b, ...)(x)
  PreparedConv (numpy)      the same on numpy arrays
  fastconv.nn.Conv2d        the drop-in module, no_grad

Each contender runs --calls calls per round; rounds are interleaved (contender order rotated)
so that a busy neighbour slows them alike; the table shows the median over --rounds rounds of
the mean per-call time, and the best round. Every result is checked against F.conv2d first.

    PYTHONPATH=build/python /usr/bin/python3 bench/call_overhead_bench.py [--rounds 15]
        [--calls 2000]
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

# name, (N, C, H, W), K, kernel, padding, groups
LAYERS = [
    ("tiny N1 C4 8x8 3x3", (1, 4, 8, 8), 4, 3, 1, 1),
    ("mbv2 dw 3x3 C144 14x14", (1, 144, 14, 14), 144, 3, 1, 144),
    ("dw 5x5 C240 28x28", (1, 240, 28, 28), 240, 5, 2, 240),
]


def contenders(shape, out_channels, kernel, padding, groups):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator)
    torch_module = torch.nn.Conv2d(shape[1], out_channels, kernel, padding=padding, groups=groups)
    fast_module = fastconv.nn.Conv2d(shape[1], out_channels, kernel, padding=padding, groups=groups)
    fast_module.load_state_dict(torch_module.state_dict())
    w, b = torch_module.weight.detach().clone(), torch_module.bias.detach().clone()
    xn, wn, bn = x.numpy().copy(), w.numpy().copy(), b.numpy().copy()
    prepared = fastconv.prepare_conv(x, w, b, padding=padding, groups=groups)
    prepared_numpy = fastconv.prepare_conv(xn, wn, bn, padding=padding, groups=groups)
    return {
        "torch F.conv2d": lambda: F.conv2d(x, w, b, 1, padding, 1, groups),
        "torch nn.Conv2d": lambda: torch_module(x),
        "fastconv.conv2d (torch)": lambda: fastconv.conv2d(x, w, b, 1, padding, 1, groups),
        "fastconv.conv2d (numpy)": lambda: fastconv.conv2d(xn, wn, bn, 1, padding, 1, groups),
        "PreparedConv (torch)": lambda: prepared(x),
        "PreparedConv (numpy)": lambda: prepared_numpy(xn),
        "fastconv.nn.Conv2d": lambda: fast_module(x),
    }


def time_calls(function, calls):
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and contender")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fastconv.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, fastconv {fastconv.__version__}; "
          f"threads: torch {torch.get_num_threads()}, fastconv {fastconv.get_num_threads()}; "
          f"{args.rounds} rounds x {args.calls} calls")
    with torch.no_grad():
        for name, shape, out_channels, kernel, padding, groups in LAYERS:
            runs = contenders(shape, out_channels, kernel, padding, groups)
            reference = runs["torch F.conv2d"]()
            for label, run in runs.items():
                result = torch.as_tensor(run())
                if not torch.allclose(result, reference, rtol=1e-4, atol=1e-4):
                    raise SystemExit(f"{name}: {label} differs from F.conv2d")
            labels = list(runs)
            samples = {label: [] for label in labels}
            for label in labels:  # warm-up: plans made, caches filled
                time_calls(runs[label], max(1, args.calls // 10))
            for round_index in range(args.rounds):
                shift = round_index % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    samples[label].append(time_calls(runs[label], args.calls))
            base = statistics.median(samples["torch F.conv2d"])
            print(f"\n{name}  (x {tuple(shape)}, w ({out_channels}, {shape[1] // groups}, "
                  f"{kernel}, {kernel}), padding {padding}, groups {groups})")
            print(f"  {'contender':<26}{'median us':>11}{'best us':>10}{'vs F.conv2d':>13}")
            for label in labels:
                median = statistics.median(samples[label])
                print(f"  {label:<26}{median * 1e6:>11.2f}{min(samples[label]) * 1e6:>10.2f}"
                      f"{median / base:>12.2f}x")
    if hasattr(fastconv._fastconv, "plan_cache_stats"):  # (builds before the plan cache: none)
        print(f"\nplan cache: {fastconv._fastconv.plan_cache_stats()}")


if __name__ == "__main__":
    main()
