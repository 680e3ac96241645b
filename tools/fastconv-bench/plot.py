#!/usr/bin/python3
"""plot.py — fastconv-bench --plot: PNG charts from the tool's JSON rows (writers.hpp columns).

Run by fastconv-bench with /usr/bin/python3 (matplotlib from Debian's python3-matplotlib):
  plot.py --check                      exit 0 if matplotlib imports, 3 otherwise
  plot.py --input results.json --output DIR --threads N [--sweep]
Writes, printing nothing but errors:
  DIR/speedup.png          peer median / fastconv median per layer (and direction, and inner
                           operation when several were timed: --op) for every
                           measured fastconv engine, one panel per peer; when no peer ran, the
                           reference engine is the baseline. Log y axis when ratios span > 10x;
                           a line at 1.0 (above it fastconv is faster).
  DIR/runtime_vs_size.png  (--sweep) median ms against input size, log-log: every fastconv
                           engine (the reference and the explicit im2col included) and every peer.
  DIR/memory_vs_size.png   (--sweep) memory the layer needs against input size, log-log: tensors
                           (src + weight + dst) plus the measured peak RSS growth (solid), and the
                           reported workspace (dashed), per contestant.
"""
import argparse
import json
import math
import os
import re
import sys

MIB = float(1 << 20)


def load_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot

        return pyplot
    except ImportError as error:
        sys.stderr.write(
            "plot.py: matplotlib is missing for %s (%s); Debian: apt-get install python3-matplotlib\n"
            % (sys.executable, error)
        )
        sys.exit(3)


def contestant(row):
    """The series name of a row: the fastconv engine label or the peer."""
    if row["library"] == "fastconv":
        return "fastconv " + row["engine_label"]
    return {
        "torch": "PyTorch",
        "torch_cl": "PyTorch channels_last",
        "onednn": "oneDNN",
        "onednn_blocked": "oneDNN blocked",
        "onednn_winograd": "oneDNN Winograd",
        "torch_unfold": "PyTorch unfold recipe",
    }.get(row["library"], row["library"])


def op_of(row):
    """The row's inner operation (rows written before --op existed: the convolution)."""
    return row.get("op", "mul_sum")


def sweep_base(layer):
    """A swept layer's name without its '_s<size>' suffix."""
    return re.sub(r"_s\d+$", "", layer)


def color_map(rows):
    """One colour per contestant, the same in every chart."""
    names = sorted({contestant(row) for row in rows})
    return {name: "C%d" % (index % 10) for index, name in enumerate(names)}


def measured(row):
    return row["outcome"] == "measured" and row["ms_median"] is not None


def speedup_chart(pyplot, rows, threads, path):
    """Bars: one slot per layer and requested fastconv engine; colour by the engine that ran
    (auto(pointwise), auto(implicit_gemm), ...)."""
    colors = color_map(rows)
    peers = []
    for row in rows:
        if row["library"] != "fastconv" and row["library"] not in peers:
            peers.append(row["library"])
    fast_rows = [r for r in rows if r["library"] == "fastconv" and measured(r)]
    directions = sorted({r["direction"] for r in fast_rows})
    one_direction = len(directions) == 1
    one_op = len({op_of(r) for r in fast_rows}) <= 1

    def key(row):  # the x-axis label: the layer, and its direction and op when several were timed
        return (row["layer"] + ("" if one_direction else " " + row["direction"]) +
                ("" if one_op else " " + op_of(row)))

    panels = []  # (baseline name, [(layer key, requested engine, engine label, ratio)])
    for peer in peers:
        bars = [(key(r), r["engine"], r["engine_label"], r.get("vs_" + peer))
                for r in fast_rows]
        bars = [b for b in bars if b[3] is not None and b[3] > 0]
        if bars:
            panels.append((contestant({"library": peer}), bars))
    if not panels:  # no peer measured: the reference engine is the baseline
        reference = {(r["layer"], r["direction"], op_of(r)): r["ms_median"]
                     for r in fast_rows if r["engine"] == "reference"}
        bars = [(key(r), r["engine"], r["engine_label"],
                 reference[(r["layer"], r["direction"], op_of(r))] / r["ms_median"])
                for r in fast_rows
                if r["engine"] != "reference" and (r["layer"], r["direction"], op_of(r)) in reference]
        panels.append(("fastconv's reference engine (no peer measured)", bars))

    most_layers = max(len({b[0] for b in bars}) for _, bars in panels)
    figure, axes_list = pyplot.subplots(len(panels), 1, figsize=(max(8.0, 0.42 * most_layers + 4.5),
                                                                 4.4 * len(panels)), squeeze=False)
    for (baseline, bars), axes in zip(panels, axes_list[:, 0]):
        layers, engines = [], []
        for layer, engine, _, _ in bars:
            if layer not in layers:
                layers.append(layer)
            if engine not in engines:
                engines.append(engine)
        width = 0.8 / len(engines)
        labelled = set()
        for layer, engine, label, ratio in bars:
            x = layers.index(layer) - 0.4 + width * (engines.index(engine) + 0.5)
            name = "fastconv " + label
            axes.bar([x], [ratio], width=width, color=colors.get(name),
                     label=None if name in labelled else name)
            labelled.add(name)
        ratios = [b[3] for b in bars]
        axes.axhline(1.0, color="black", linewidth=1.0, linestyle="--", label="1.0 (same speed)")
        if ratios and max(ratios) / min(ratios) > 10:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            axes.set_yscale("log")
            axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: "%g" % value))
            axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_xticks(range(len(layers)))
        axes.set_xticklabels(layers, rotation=40, ha="right", fontsize=8)
        axes.set_xlim(-0.6, len(layers) - 0.4)
        short = "reference" if baseline.startswith("fastconv's reference") else baseline
        axes.set_ylabel("speedup (%s time /\nfastconv time)" % short)
        axes.set_title("fastconv vs %s%s, %d thread%s (higher is better)"
                       % (baseline, " (%s)" % directions[0] if one_direction else "", threads,
                          "" if threads == 1 else "s"))
        axes.grid(axis="y", alpha=0.3, which="both")
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def sweep_series(rows, value):
    """{(base layer, direction and op): {series: [(size, value)]}} for measured rows."""
    groups = {}
    for row in rows:
        if row["outcome"] != "measured":
            continue
        y = value(row)
        if y is None or y <= 0:
            continue
        key = (sweep_base(row["layer"]),
               row["direction"] + ("" if op_of(row) == "mul_sum" else " " + op_of(row)))
        groups.setdefault(key, {}).setdefault(contestant(row), []).append((row["input_size"], y))
    return groups


def size_chart(pyplot, groups, colors, threads, path, ylabel, title, extra=None):
    from matplotlib.ticker import FixedLocator, NullLocator

    keys = sorted(groups)
    figure, axes_list = pyplot.subplots(len(keys), 1, figsize=(11, 5.2 * len(keys)), squeeze=False)
    for key, axes in zip(keys, axes_list[:, 0]):
        sizes = set()
        for name, points in sorted(groups[key].items()):
            points.sort()
            sizes.update(p[0] for p in points)
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                      color=colors.get(name), label=name)
        if extra:
            extra(axes, key)
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.xaxis.set_major_locator(FixedLocator(sorted(sizes)))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xticklabels([str(size) for size in sorted(sizes)])
        axes.set_xlabel("input size (elements per spatial axis, log scale)")
        axes.set_ylabel(ylabel)
        layer = "%s %s, %d thread%s" % (key[0], key[1], threads, "" if threads == 1 else "s")
        axes.set_title(title.format(layer=layer))
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    if args.check:  # cheap: the package only, not pyplot
        try:
            import matplotlib  # noqa: F401
        except ImportError as error:
            sys.stderr.write("plot.py: matplotlib is missing for %s (%s)\n" % (sys.executable, error))
            return 3
        return 0
    pyplot = load_matplotlib()
    if not args.input or not args.output:
        parser.error("--input and --output are required")
    with open(args.input) as file:
        rows = json.load(file)

    speedup_chart(pyplot, rows, args.threads, os.path.join(args.output, "speedup.png"))
    if args.sweep:
        colors = color_map(rows)
        size_chart(pyplot, sweep_series(rows, lambda r: r["ms_median"]), colors, args.threads,
                   os.path.join(args.output, "runtime_vs_size.png"),
                   "median time per call (ms, log scale)", "runtime vs input size: {layer}")

        def memory_of(row):
            return (row["tensor_bytes"] + row["peak_rss_increase_bytes"]) / MIB

        workspace = sweep_series(rows, lambda r: r["workspace_bytes"] / MIB if r["workspace_bytes"] else None)

        def dashed_workspace(axes, key):
            for name, points in sorted(workspace.get(key, {}).items()):
                points.sort()
                axes.plot([p[0] for p in points], [p[1] for p in points], linestyle="--",
                          color=colors.get(name, "gray"), alpha=0.7, label=name + " workspace")

        size_chart(pyplot, sweep_series(rows, memory_of), colors, args.threads,
                   os.path.join(args.output, "memory_vs_size.png"), "memory (MiB, log scale)",
                   "memory vs input size: {layer}\nsolid: tensors + measured peak RSS growth; "
                   "dashed: workspace", dashed_workspace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
