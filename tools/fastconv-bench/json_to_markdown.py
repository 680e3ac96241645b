#!/usr/bin/python3
"""fastconv-bench --json output -> the Markdown table of BENCHMARKS.md.

    tools/fastconv-bench/json_to_markdown.py run.json > table.md

One row per layer (and direction, when the run timed several: --dir; and inner operation, when
the run timed another than mul_sum: --op) and fastconv engine: GFLOP, each peer's median ms,
fastconv's median ms, ratio per peer (peer time / fastconv time), with --scaling the speedup
over 1 thread, GFLOP/s (with --op also Gpairs/s),
% of the FMA peak measured at the start of the run and of the FMA burst timed in the same rounds,
workspace and measured peak-RSS increase; then the geometric mean and the minimum of the ratios
against each peer. Only the standard library.
"""

import json
import math
import sys


def main(path):
    rows = json.load(open(path))
    fastconv = [r for r in rows if r["library"] == "fastconv"]
    peers = []
    for r in rows:
        if r["library"] != "fastconv" and r["library"] not in peers:
            peers.append(r["library"])
    peer_ms = {(r["layer"], r.get("direction", "fwd"), r.get("op", "mul_sum"), r["library"]): r
               for r in rows if r["library"] != "fastconv"}
    directions = len({r.get("direction", "fwd") for r in rows}) > 1
    ops = {r.get("op", "mul_sum") for r in rows} != {"mul_sum"}  # --op: op column and Gpairs/s
    first = fastconv[0]
    print(f"Machine at the start of the run: {first['machine_isa']}, FMA peak "
          f"{first['machine_peak_gflops']:.1f} GFLOP/s for {first['threads']} thread(s), "
          f"bandwidth {first['machine_bandwidth_gbs']:.1f} GB/s.\n")
    scaling = any(r.get("speedup_over_1_thread") is not None for r in fastconv)  # --scaling
    header = ["layer"] + (["dir"] if directions else []) + (["op"] if ops else []) + ["engine", "GFLOP"] + \
        [f"{p} ms" for p in peers] + ["fastconv ms"] + \
        [f"vs {p}" for p in peers] + (["vs 1 thread"] if scaling else []) + \
        ["GFLOP/s"] + (["Gpairs/s"] if ops else []) + \
        ["% peak", "% round peak", "workspace KiB", "peak RSS + MiB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    ratios = {p: [] for p in peers}
    for r in fastconv:
        direction = r.get("direction", "fwd")
        op = r.get("op", "mul_sum")
        lead = [r["layer"]] + ([direction] if directions else []) + ([op] if ops else []) + [r["engine_label"]]
        if r["outcome"] != "measured":
            print("| " + " | ".join(lead) + f" | {r['outcome']}: {r['message']} |")
            continue
        cells = lead + [f"{r['gflop']:.4f}"]
        for p in peers:
            other = peer_ms.get((r["layer"], direction, op, p))
            cells.append(f"{other['ms_median']:.3f}" if other and other["outcome"] == "measured"
                         else (other or {}).get("outcome", "-"))
        cells.append(f"{r['ms_median']:.3f}")
        for p in peers:
            ratio = r.get(f"vs_{p}")
            if ratio:
                ratios[p].append(ratio)
            cells.append(f"**{ratio:.2f}x**" if ratio and ratio < 1 else
                         (f"{ratio:.2f}x" if ratio else "-"))
        if scaling:
            speedup = r.get("speedup_over_1_thread")
            cells.append(f"{speedup:.2f}x" if speedup is not None else "-")
        round_peak = r.get("percent_of_round_peak")
        cells += [f"{r['gflops']:.1f}"] + ([f"{r['gpairs_per_s']:.2f}"] if ops else []) + [
                  f"{r['percent_of_peak']:.0f}%",
                  f"{round_peak:.0f}%" if round_peak is not None else "-",
                  f"{r['workspace_bytes'] / 1024:.0f}",
                  f"{r['peak_rss_increase_bytes'] / 2**20:.1f}"]
        print("| " + " | ".join(cells) + " |")
    print()
    for p in peers:
        values = ratios[p]
        if values:
            geo = math.exp(sum(math.log(v) for v in values) / len(values))
            print(f"- vs {p}: geometric mean {geo:.2f}x over {len(values)} layers, "
                  f"minimum {min(values):.2f}x")


if __name__ == "__main__":
    main(sys.argv[1])
