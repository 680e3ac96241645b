"""What the seeds' authors ran, from Python: convolution recipes vs F.conv2d and fastconv.conv2d.

The recipes users write, torch's F.conv2d and fastconv.conv2d, one thread, float32: time and peak
memory per call.

Layers: the seeds of tools/fastconv-bench/suites.cpp (seed_1000: N3, C3 -> K3, 1000x1000, 3x3,
no padding; seed_1024_p1: N1, C3 -> K16, 1024x1024, 3x3, padding 1) and a sweep of square inputs
(N1, C3 -> K16, 3x3, padding 1). Contenders, each called as a user calls it (outputs allocated
by the call, torch ones under torch.no_grad()):

  naive loops          Python loops over lists (inputs up to --naive-max only, skipped beyond)
  unfold+matmul        F.unfold, then weight.view(K, -1) @ columns
  torch.einsum         F.unfold, then torch.einsum('kc,ncl->nkl')
  numpy im2col         np.lib.stride_tricks.as_strided windows, reshaped (a copy), then @
  numpy einsum         np.einsum('ncijab,kcab->nkij') over the as_strided windows (no copy)
  F.conv2d             torch.nn.functional.conv2d
  fastconv (torch)     fastconv.conv2d on torch tensors
  fastconv (numpy)     fastconv.conv2d on numpy arrays

Every result is checked against F.conv2d in float64 (tolerance (C*kh*kw + 2) * eps32 * the same
convolution of |x| and |w|) before it is timed; a mismatch is reported, not timed. Time: median
of --repeats calls after one warm-up (3 calls when the warm-up took over a second). Peak memory:
each (contender, layer) in a fresh process (forked from a server that has only imported torch,
numpy and fastconv), the growth of its peak resident set over one call at the layer's size,
inputs allocated before, after a warm-up call on an 8x8 input (code pages, lazy set-up): VmHWM
after resetting it (/proc/self/clear_refs), and a sampling thread as in bench/custom_ops_bench.py
where the reset is not allowed.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_recipes_bench.py [--quick]
        [--sizes 32,64,...] [--repeats 5] [--json out.json] [--plot-dir DIR]

Plots: runtime_vs_size.png and memory_vs_size.png (log-log, the sweep; a growth of 0, a call
that fitted in pages already resident, has no point) in --plot-dir (default: the current
directory); scripts/bench.sh --python puts them in $FASTCONV_BUILD_DIR/python-bench.
"""

import os

# One thread for every library, set before numpy, torch and fastconv load their thread pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fastconv  # noqa: E402

as_strided = np.lib.stride_tricks.as_strided
BASELINE = "fastconv (torch)"
SWEEP_SIZES = (32, 64, 128, 256, 512, 1024)
QUICK_SIZES = (8, 16)


class Layer:
    """A forward 2-D convolution, square input and kernel, no bias, stride 1."""

    def __init__(self, name, batch, in_channels, out_channels, size, kernel, padding):
        self.name, self.batch, self.in_channels = name, batch, in_channels
        self.out_channels, self.size = out_channels, size
        self.kernel, self.padding = kernel, padding

    def problem(self):  # benchdnn-style, as fastconv-bench prints it
        text = (f"mb{self.batch}ic{self.in_channels}ih{self.size}oc{self.out_channels}"
                f"oh{self.size + 2 * self.padding - self.kernel + 1}kh{self.kernel}")
        return text + (f"ph{self.padding}" if self.padding else "")

    def spec(self):
        return [self.name, self.batch, self.in_channels, self.out_channels, self.size,
                self.kernel, self.padding]

    def operands(self):
        """x, w as torch tensors and numpy arrays sharing their memory."""
        generator = torch.Generator().manual_seed(20)
        x = torch.randn(self.batch, self.in_channels, self.size, self.size, generator=generator)
        w = torch.randn(self.out_channels, self.in_channels, self.kernel, self.kernel,
                        generator=generator)
        return x, w, x.numpy(), w.numpy()


SEEDS = (Layer("seed_1000", 3, 3, 3, 1000, 3, 0), Layer("seed_1024_p1", 1, 3, 16, 1024, 3, 1))


def sweep_layer(size):
    return Layer(f"sweep_{size}", 1, 3, 16, size, 3, 1)


# --- the recipes -----------------------------------------------------------------------------

def naive_loops(x, w, padding):
    """What a first attempt looks like: every multiply-add in Python."""
    batch, channels, _, _ = x.shape
    out_channels, _, kernel_h, kernel_w = w.shape
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = x.shape[2] - kernel_h + 1, x.shape[3] - kernel_w + 1
    src, weight = x.tolist(), w.tolist()
    dst = np.empty((batch, out_channels, out_h, out_w), np.float32)
    for n in range(batch):
        for k in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    total = 0.0
                    for c in range(channels):
                        for a in range(kernel_h):
                            row, weight_row = src[n][c][i + a], weight[k][c][a]
                            for b in range(kernel_w):
                                total += row[j + b] * weight_row[b]
                    dst[n, k, i, j] = total
    return dst


def numpy_windows(x, kernel, padding, order):
    """Zero-copy (N, C, ...) windows of x by as_strided; order 'kernel_first' puts the kernel
    axes before the output axes (im2col's row order), 'output_first' after."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    batch, channels, height, width = x.shape
    out_h, out_w = height - kernel + 1, width - kernel + 1
    s_n, s_c, s_h, s_w = x.strides
    if order == "kernel_first":
        return as_strided(x, (batch, channels, kernel, kernel, out_h, out_w),
                          (s_n, s_c, s_h, s_w, s_h, s_w), writeable=False)
    return as_strided(x, (batch, channels, out_h, out_w, kernel, kernel),
                      (s_n, s_c, s_h, s_w, s_h, s_w), writeable=False)


def numpy_im2col(x, w, padding):
    windows = numpy_windows(x, w.shape[2], padding, "kernel_first")
    batch, channels, kernel, _, out_h, out_w = windows.shape
    columns = windows.reshape(batch, channels * kernel * kernel, out_h * out_w)  # copies
    return (w.reshape(w.shape[0], -1) @ columns).reshape(batch, w.shape[0], out_h, out_w)


def numpy_einsum(x, w, padding):
    windows = numpy_windows(x, w.shape[2], padding, "output_first")
    return np.einsum("ncijab,kcab->nkij", windows, w)


def unfold_matmul(x, w, padding):
    with torch.no_grad():
        batch, out_channels = x.shape[0], w.shape[0]
        out_h = x.shape[2] + 2 * padding - w.shape[2] + 1
        out_w = x.shape[3] + 2 * padding - w.shape[3] + 1
        columns = F.unfold(x, w.shape[2:], padding=padding)             # N, C*kh*kw, L
        return (w.view(out_channels, -1) @ columns).view(batch, out_channels, out_h, out_w)


def torch_einsum(x, w, padding):
    with torch.no_grad():
        batch, out_channels = x.shape[0], w.shape[0]
        out_h = x.shape[2] + 2 * padding - w.shape[2] + 1
        out_w = x.shape[3] + 2 * padding - w.shape[3] + 1
        columns = F.unfold(x, w.shape[2:], padding=padding)
        return torch.einsum("kc,ncl->nkl", w.view(out_channels, -1), columns).view(
            batch, out_channels, out_h, out_w)


def torch_conv2d(x, w, padding):
    with torch.no_grad():
        return F.conv2d(x, w, padding=padding)


def fastconv_conv2d(x, w, padding):
    return fastconv.conv2d(x, w, padding=padding)


# name -> (function, takes numpy arrays)
CONTENDERS = {
    "naive loops": (naive_loops, True),
    "unfold+matmul": (unfold_matmul, False),
    "torch.einsum": (torch_einsum, False),
    "numpy im2col": (numpy_im2col, True),
    "numpy einsum": (numpy_einsum, True),
    "F.conv2d": (torch_conv2d, False),
    "fastconv (torch)": (fastconv_conv2d, False),
    "fastconv (numpy)": (fastconv_conv2d, True),
}


def call_of(name, layer, operands):
    function, takes_numpy = CONTENDERS[name]
    x, w, x_np, w_np = operands
    if takes_numpy:
        return lambda: function(x_np, w_np, layer.padding)
    return lambda: function(x, w, layer.padding)


# --- checking, timing, memory ----------------------------------------------------------------

def check(result, layer, operands):
    """None if result matches F.conv2d in float64, else a description of the worst error."""
    x, w = operands[0].double(), operands[1].double()
    reference = F.conv2d(x, w, padding=layer.padding)
    bound = F.conv2d(x.abs(), w.abs(), padding=layer.padding)
    if isinstance(result, np.ndarray):
        result = torch.from_numpy(np.ascontiguousarray(result))
    if tuple(result.shape) != tuple(reference.shape):
        return f"shape {tuple(result.shape)}, expected {tuple(reference.shape)}"
    tolerance = (layer.in_channels * layer.kernel ** 2 + 2) * float(np.finfo(np.float32).eps)
    error = (result.double() - reference).abs() - tolerance * bound
    if not bool(torch.isfinite(result).all()) or float(error.max()) > 1e-30:
        worst = float((result.double() - reference).abs().max())
        return f"max abs error {worst:.3g}"
    return None


def timed(call, repeats):
    start = time.perf_counter()
    call()  # warm-up
    if time.perf_counter() - start > 1.0:
        repeats = min(repeats, 3)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def memory_child(name, spec, queue):
    """In a fresh process: peak RSS growth (MiB) over one call, inputs allocated before."""
    try:
        torch.set_num_threads(1)
        fastconv.set_num_threads(1)
        layer = Layer(*spec)
        # Code pages and lazy initialisation belong to the import, not to the call: a warm-up on
        # an 8x8 input first (small enough not to leave freed blocks for the measured call).
        small = Layer("warm-up", 1, layer.in_channels, layer.out_channels, 8, layer.kernel,
                      layer.padding)
        call_of(name, small, small.operands())()
        call = call_of(name, layer, layer.operands())
        before = _status_kib("VmRSS")
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _status_kib("VmRSS"))
                time.sleep(0.0002)

        exact = _reset_peak()
        sampler = None if exact else threading.Thread(target=sample)
        if sampler:
            sampler.start()
        result = call()
        done.set()
        if sampler:
            sampler.join()
        peak[0] = max(peak[0], _status_kib("VmHWM") if exact else _status_kib("VmRSS"))
        del result
        queue.put({"peak_mib": (peak[0] - before) / 1024, "exact": exact})
    except Exception as error:  # reported by the parent
        queue.put({"error": f"{type(error).__name__}: {error}"})


def measure_memory(context, name, layer):
    queue = context.Queue()
    process = context.Process(target=memory_child, args=(name, layer.spec(), queue))
    process.start()
    try:
        answer = queue.get(timeout=600)
    finally:
        process.join()
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["peak_mib"], answer["exact"]


def run_layer(context, layer, args, names):
    operands = layer.operands()
    rows = []
    for name in names:
        row = {"layer": layer.name, "problem": layer.problem(), "size": layer.size,
               "contender": name, "median_ms": None, "min_ms": None, "peak_mib": None,
               "status": "ok", "note": ""}
        rows.append(row)
        if name == "naive loops" and layer.size > args.naive_max:
            row["status"], row["note"] = "skipped", f"input > {args.naive_max}x{args.naive_max}"
            continue
        call = call_of(name, layer, operands)
        mismatch = check(call(), layer, operands)
        if mismatch:
            row["status"], row["note"] = "mismatch", mismatch
            continue
        median, fastest = timed(call, args.repeats)
        row["median_ms"], row["min_ms"] = median * 1e3, fastest * 1e3
        if args.memory and (not args.memory_sizes or layer.size in args.memory_sizes):
            row["peak_mib"], exact = measure_memory(context, name, layer)
            if not exact:
                row["note"] = "memory sampled"
    # Ratios to fastconv.conv2d on torch tensors; none for memory when its growth is under
    # 0.1 MiB (a few pages: noise, not a denominator).
    baseline = next(row for row in rows if row["contender"] == BASELINE)
    for row in rows:
        for key, ratio, floor in (("median_ms", "time_vs_fastconv", 0.0),
                                  ("peak_mib", "mem_vs_fastconv", 0.1)):
            ok = row[key] is not None and baseline[key] is not None and baseline[key] > floor
            row[ratio] = row[key] / baseline[key] if ok else None
    return rows


# --- output ----------------------------------------------------------------------------------

def _cell(value, fmt, width, suffix=""):
    return f"{'-' if value is None else format(value, fmt) + suffix:>{width}}"


def print_table(layer, rows):
    print(f"\n{layer.name}  {layer.problem()}  (N{layer.batch}, C{layer.in_channels} -> "
          f"K{layer.out_channels}, {layer.size}x{layer.size}, {layer.kernel}x{layer.kernel}, "
          f"padding {layer.padding})")
    print(f"  {'contender':18s} {'median ms':>11s} {'min ms':>11s} {'peak MiB':>9s} "
          f"{'time/fastconv':>14s} {'mem/fastconv':>13s}  note")
    for row in rows:
        note = row["note"] if row["status"] == "ok" else f"{row['status']}: {row['note']}"
        print(f"  {row['contender']:18s} {_cell(row['median_ms'], '.3f', 11)} "
              f"{_cell(row['min_ms'], '.3f', 11)} {_cell(row['peak_mib'], '.2f', 9)} "
              f"{_cell(row['time_vs_fastconv'], '.2f', 14, 'x')} "
              f"{_cell(row['mem_vs_fastconv'], '.2f', 13, 'x')}  {note}".rstrip(), flush=True)


def plot(rows, names, plot_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plot_dir, exist_ok=True)
    sweep = [row for row in rows if row["layer"].startswith("sweep_")]
    paths = []
    for key, label, file_name in (("median_ms", "median time per call (ms)", "runtime_vs_size.png"),
                                  ("peak_mib", "peak memory growth of the call (MiB)",
                                   "memory_vs_size.png")):
        figure, axes = plt.subplots(figsize=(8, 5.5))
        for name in names:
            points = sorted((row["size"], row[key]) for row in sweep
                            if row["contender"] == name and row[key] is not None and row[key] > 0)
            if points:
                style = {"fastconv (torch)": "-o", "fastconv (numpy)": "-s"}.get(name, "--.")
                axes.plot(*zip(*points), style, label=name, markersize=4 if "numpy)" in name else 6)
        axes.set_xscale("log", base=2)
        sizes = sorted({row["size"] for row in sweep})
        axes.set_xticks(sizes, [str(size) for size in sizes])
        axes.minorticks_off()
        axes.set_yscale("log")
        axes.set_xlabel("input height = width (N1, C3 -> K16, 3x3, padding 1)")
        axes.set_ylabel(label)
        axes.set_title(f"{label.split(' (')[0]} against input size, float32, 1 thread")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small", loc="upper left")
        figure.tight_layout()
        path = os.path.join(plot_dir, file_name)
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def sizes_argument(text):
    return tuple(int(part) for part in text.split(",") if part)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--quick", action="store_true",
                        help=f"tests: sizes {','.join(map(str, QUICK_SIZES))}, no seed layers, "
                             "2 repeats, memory at the largest size only")
    parser.add_argument("--sizes", type=sizes_argument,
                        help=f"sweep sizes (default {','.join(map(str, SWEEP_SIZES))})")
    parser.add_argument("--no-seeds", action="store_true", help="skip the seeds' layers")
    parser.add_argument("--repeats", type=int, help="timed calls per contender (default 5)")
    parser.add_argument("--naive-max", type=int, default=32,
                        help="largest input size the naive loops run on (default 32)")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory processes")
    parser.add_argument("--json", metavar="PATH", help="write every row as JSON")
    parser.add_argument("--plot-dir", default=".",
                        help="where runtime_vs_size.png and memory_vs_size.png go (default .)")
    parser.add_argument("--no-plot", dest="plot", action="store_false")
    args = parser.parse_args()
    sizes = args.sizes or (QUICK_SIZES if args.quick else SWEEP_SIZES)
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.memory_sizes = (max(sizes),) if args.quick else ()
    seeds = () if (args.quick or args.no_seeds) else SEEDS

    torch.set_num_threads(1)
    fastconv.set_num_threads(1)
    names = list(CONTENDERS)
    print(f"python_recipes_bench: fastconv {fastconv.__version__}, torch {torch.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}, float32, 1 thread, "
          f"{platform.processor() or platform.machine()}")
    print(f"time: median of {args.repeats} calls after a warm-up, output allocated by each call; "
          "peak MiB: growth of the peak RSS over one call in a fresh process (after an 8x8 "
          "warm-up)")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["numpy", "torch", "fastconv"])
    started = time.perf_counter()
    layers = list(seeds)
    seed_sizes = {layer.size: layer for layer in seeds if layer.name == "seed_1024_p1"}
    rows = []
    for size in sizes:
        layers.append(sweep_layer(size))
    for layer in layers:
        if layer.name.startswith("sweep_") and layer.size in seed_sizes:
            # the same problem as seed_1024_p1: its rows, not a second run
            copies = [dict(row, layer=layer.name, same_as=row["layer"]) for row in rows
                      if row["layer"] == seed_sizes[layer.size].name]
            rows.extend(copies)
            print(f"\n{layer.name}: the same problem as {seed_sizes[layer.size].name} (above)")
            continue
        layer_rows = run_layer(context, layer, args, names)
        rows.extend(layer_rows)
        print_table(layer, layer_rows)
    runs = [row for row in rows if "same_as" not in row]
    problems = [row for row in runs if row["status"] == "mismatch"]
    print(f"\nsummary: {len(runs) // len(names)} layers x {len(names)} contenders, "
          f"{sum(row['status'] == 'ok' for row in runs)} measured, "
          f"{sum(row['status'] == 'skipped' for row in runs)} skipped, {len(problems)} mismatched "
          f"in {time.perf_counter() - started:.1f} s")
    if args.plot:
        for path in plot(rows, names, args.plot_dir):
            print(f"plot: {os.path.abspath(path)}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"fastconv": fastconv.__version__, "torch": torch.__version__,
                       "numpy": np.__version__, "threads": 1, "repeats": args.repeats,
                       "rows": rows}, out, indent=1)
        print(f"json: {os.path.abspath(args.json)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
