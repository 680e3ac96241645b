"""Shared helpers for fastconv's Python tests.

Everything here is deterministic: random problems come from numpy Generators seeded with
(SEED, function, configuration index), so a failing test id such as
`test_forward_numpy[conv2d-117]` reproduces exactly with `random_config('conv2d', 117)`.

References are computed with torch.nn.functional in float64 from the very values given to
fastconv, with any padding applied explicitly (F.pad) and the convolution run with padding 0,
so that 'same', 'valid' and (begin, end) pairs are checked against an independent definition.
Errors are judged against the magnitude bound |x| * |w| + |b| (the same operation on absolute
values): float64 must agree to 1e-10 of that bound, float32 to (reduction length + 2) * eps.
"""

import dataclasses
import functools
import math
import os

# libgomp's default busy-waiting makes every small parallel call crawl when another process
# holds a core (this machine has two); passive waiting keeps the suite's run time stable.
# Set before torch / fastconv load libgomp; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv

SEED = 20240607
CONFIGS_PER_FUNCTION = 300

CONV_NAMES = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d")
NP_DTYPES = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
FLOAT32_EPS = float(np.finfo(np.float32).eps)
FLOAT64_RTOL = 1e-10


def fastconv_function(name):
    return getattr(fastconv, name)


def name_dims(name):
    return int(name[-2]), name.startswith("conv_transpose")


# ---------------------------------------------------------------------------------------------
# padding resolution (independent of fastconv._params)


def same_pads(in_size, kernel, stride, dilation, transposed):
    """(begin, end, extra) for padding='same' on one axis, per ONNX SAME_UPPER.

    convolution: total = max(0, (ceil(in/stride) - 1) * stride + (k - 1) * dilation + 1 - in).
    transposed: out = in * stride; the full transposed output has (in-1)*stride + extent
    positions, so total = extent - stride is cropped (begin = total // 2), or, when negative,
    -total positions are appended at the end (they receive only the bias)."""
    extent = (kernel - 1) * dilation + 1
    if transposed:
        total = extent - stride
        if total < 0:
            return 0, 0, -total
        return total // 2, total - total // 2, 0
    out = -(-in_size // stride)
    total = max(0, (out - 1) * stride + extent - in_size)
    return total // 2, total - total // 2, 0


def resolve_padding(padding, dims, in_spatial, kernel, stride, dilation, transposed):
    """(pad_begin, pad_end, extra_end) tuples for any padding form fastconv accepts."""
    if padding == "valid":
        return (0,) * dims, (0,) * dims, (0,) * dims
    if padding == "same":
        pads = [same_pads(i, k, s, d, transposed)
                for i, k, s, d in zip(in_spatial, kernel, stride, dilation)]
        return tuple(p[0] for p in pads), tuple(p[1] for p in pads), tuple(p[2] for p in pads)
    if isinstance(padding, int):
        return (padding,) * dims, (padding,) * dims, (0,) * dims
    if all(isinstance(p, int) for p in padding):
        padding = tuple(padding) * dims if len(padding) == 1 else tuple(padding)
        return padding, padding, (0,) * dims
    return tuple(p[0] for p in padding), tuple(p[1] for p in padding), (0,) * dims


def pad_list(begin, end):
    """F.pad's argument (last axis first) for per-axis begin / end amounts (may be negative)."""
    out = []
    for b, e in zip(reversed(begin), reversed(end)):
        out += [b, e]
    return out


def torch_reference_conv(dims, transposed, x, w, b, stride, dilation, groups, pad_begin, pad_end,
                         output_padding=None, extra=None):
    """Explicit-padding reference on batched tensors.

    convolution: F.pad(x, begin/end) then convolve with padding 0.
    transposed: transposed convolution with padding 0 and output_padding 0, then crop begin
    positions at the start and end - output_padding - extra at the end (negative crop = zeros
    appended), then add the bias."""
    if not transposed:
        if any(pad_begin) or any(pad_end):
            x = F.pad(x, pad_list(pad_begin, pad_end))
        return TORCH_CONV[dims](x, w, b, stride, 0, dilation, groups)
    full = TORCH_CONV_TRANSPOSE[dims](x, w, None, stride, 0, 0, groups, dilation)
    output_padding = output_padding or (0,) * dims
    extra = extra or (0,) * dims
    end = [e - op - ex for e, op, ex in zip(pad_end, output_padding, extra)]
    out = F.pad(full, pad_list([-p for p in pad_begin], [-e for e in end]))
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * dims)
    return out


# ---------------------------------------------------------------------------------------------
# layouts


def channels_last_numpy(array):
    """A channels-last copy of a batched (N, C, spatial...) array, as a transposed view."""
    nd = array.ndim
    memory = np.ascontiguousarray(np.moveaxis(array, 1, nd - 1))
    return np.moveaxis(memory, nd - 1, 1)


def make_layout_numpy(array, layout):
    """A view with the values of `array` (C-contiguous) in the requested memory layout.

    contiguous | channels_last (numpy transposed view of an (N, spatial..., C) array) |
    sliced (every other element of a larger buffer along the last axis, offset along axis 1) |
    permuted (all axes reversed in memory) | reversed (negative strides)."""
    if layout == "contiguous":
        return np.ascontiguousarray(array)
    if layout == "channels_last":
        if array.ndim < 3:
            return np.ascontiguousarray(array)
        return channels_last_numpy(array)
    if layout == "sliced":
        shape = list(array.shape)
        if array.ndim == 1:
            big = np.full((2 * shape[0] + 1,), np.nan, dtype=array.dtype)
            big[1::2] = array
            return big[1::2]
        big_shape = shape[:1] + [shape[1] + 1] + shape[2:-1] + [2 * shape[-1] + 1]
        big = np.full(big_shape, np.nan, dtype=array.dtype)
        view = big[:, 1:, ..., 1::2]
        view[...] = array
        return view
    if layout == "permuted":
        return np.ascontiguousarray(array.T).T
    if layout == "reversed":
        return np.ascontiguousarray(array[..., ::-1])[..., ::-1]
    raise AssertionError(layout)


def make_layout_torch(array, layout):
    """A torch tensor with the values of `array` in the requested layout (see numpy version);
    channels_last uses torch.channels_last / channels_last_3d for 2-D / 3-D."""
    if layout == "channels_last" and array.ndim in (4, 5):
        fmt = torch.channels_last if array.ndim == 4 else torch.channels_last_3d
        return torch.from_numpy(np.ascontiguousarray(array)).contiguous(memory_format=fmt)
    if layout == "reversed":  # torch has no negative strides
        layout = "permuted"
    return torch.from_numpy(make_layout_numpy(array, layout))


def is_channels_last_numpy(array):
    return np.moveaxis(array, 1, array.ndim - 1).flags.c_contiguous


def torch_twin(array):
    """A torch tensor with the shape and strides of `array` (numpy with non-negative strides,
    or torch), values irrelevant: what torch would see, to ask it its memory-format rule."""
    if isinstance(array, torch.Tensor):
        return array.detach()
    strides = [s // array.itemsize for s in array.strides]
    if any(s < 0 for s in strides):
        return torch.from_numpy(np.ascontiguousarray(array))  # torch has no negative strides
    size = 1 + sum((n - 1) * s for n, s in zip(array.shape, strides)) if array.size else 0
    return torch.zeros(size, dtype=TORCH_DTYPES[array.dtype.name]).as_strided(array.shape, strides)


def memory_formats(array):
    """(contiguous, channels-last) of a numpy array or torch tensor, as torch judges them
    (channels_last for 4-D, channels_last_3d for 5-D, never for other ranks)."""
    tensor = torch_twin(array)
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}.get(tensor.dim())
    return tensor.is_contiguous(), fmt is not None and tensor.is_contiguous(memory_format=fmt)


def torch_result_layout(dims, transposed, groups, x, w):
    """The memory format torch's convolution gives results for inputs of these layouts (numpy
    or torch; stride, padding and values do not affect the choice): "channels_last" or
    "contiguous", or None when its result cannot show the choice (a shape that is both).
    Full padding, so that any kernel fits."""
    x, w = torch_twin(x), torch_twin(w)
    if transposed:
        out = TORCH_CONV_TRANSPOSE[dims](x, w, None, 1, 0, 0, groups)
    else:
        out = TORCH_CONV[dims](x, w, None, 1, [k - 1 for k in w.shape[2:]], 1, groups)
    contiguous, channels_last = memory_formats(out)
    if contiguous == channels_last:
        return None
    return "channels_last" if channels_last else "contiguous"


def memory_formats_in_layout(shape, layout):
    """memory_formats of a tensor of `shape` allocated in `layout` ("channels_last" or
    "contiguous")."""
    tensor = torch.empty(shape)
    if layout == "channels_last" and tensor.dim() in (4, 5):
        fmt = torch.channels_last if tensor.dim() == 4 else torch.channels_last_3d
        tensor = tensor.contiguous(memory_format=fmt)
    return memory_formats(tensor)


def as_float64_numpy(array):
    if isinstance(array, torch.Tensor):
        array = array.detach().numpy()
    return np.asarray(array, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# error checking against magnitude bounds


def assert_bounded_close(actual, expected, bound, dtype, reduction, what=""):
    """|actual - expected| <= tol * bound elementwise, bound = same computation on |operands|.

    float64: tol = 1e-10. float32: tol = (reduction + 2) * eps32 (summation error of
    `reduction` products plus the roundings of the result)."""
    actual = as_float64_numpy(actual)
    expected = as_float64_numpy(expected)
    bound = as_float64_numpy(bound)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values in the result"
    rtol = FLOAT64_RTOL if dtype == "float64" else (reduction + 2) * FLOAT32_EPS
    error = np.abs(actual - expected)
    allowed = rtol * bound
    bad = error > allowed
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        worst = float(np.max(error / np.maximum(bound, 1e-300)))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at {index}: "
            f"got {actual[index]!r}, expected {expected[index]!r} (bound {bound[index]!r}); "
            f"worst error/bound {worst:.3g}, allowed {rtol:.3g} ({dtype})")


# ---------------------------------------------------------------------------------------------
# random convolution problems


@dataclasses.dataclass
class ConvConfig:
    name: str
    index: int
    dims: int
    transposed: bool
    batch: int
    unbatched: bool
    in_channels: int
    out_channels: int
    groups: int
    spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    padding: object        # as passed to fastconv
    pad_begin: tuple       # resolved
    pad_end: tuple
    extra: tuple           # transposed 'same': positions appended at the end
    output_padding: tuple  # transposed only
    bias: bool
    dtype: str
    layout: str
    weight_layout: str
    grad_layout: str
    algo: str
    positional: bool
    requires_grad: tuple   # (input, weight, bias)

    @property
    def is_pairs(self):
        return isinstance(self.padding, tuple) and any(isinstance(p, tuple) for p in self.padding)

    def input_shape(self):
        return (self.batch, self.in_channels) + self.spatial

    def weight_shape(self):
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel
        return (self.out_channels, self.in_channels // self.groups) + self.kernel

    def call_args(self, x, w, b):
        """(args, kwargs) for fastconv's function, positional in torch's order or keywords."""
        if self.transposed:
            names = ("stride", "padding", "output_padding", "groups", "dilation")
            values = (self.stride_arg, self.padding, self.output_padding_arg, self.groups,
                      self.dilation_arg)
        else:
            names = ("stride", "padding", "dilation", "groups")
            values = (self.stride_arg, self.padding, self.dilation_arg, self.groups)
        if self.positional:
            return (x, w, b) + values, {"algo": self.algo}
        return (x, w), dict(zip(names, values), bias=b, algo=self.algo)

    # stride / dilation / output_padding are passed as an int when all dims agree (odd index)
    def _arg(self, values):
        if self.index % 2 and len(set(values)) == 1:
            return values[0]
        return tuple(values)

    @property
    def stride_arg(self):
        return self._arg(self.stride)

    @property
    def dilation_arg(self):
        return self._arg(self.dilation)

    @property
    def output_padding_arg(self):
        return self._arg(self.output_padding)

    def forward_reduction(self):
        return (self.in_channels // self.groups) * math.prod(self.kernel)

    def grad_input_reduction(self):
        return (self.out_channels // self.groups) * math.prod(self.kernel)

    def grad_weight_reduction(self, out_spatial):
        return self.batch * max(math.prod(self.spatial), math.prod(out_spatial))

    def describe(self):
        fields = ("batch", "unbatched", "in_channels", "out_channels", "groups", "spatial",
                  "kernel", "stride", "dilation", "padding", "output_padding", "bias", "dtype",
                  "layout", "weight_layout", "algo")
        return f"{self.name}[{self.index}] " + " ".join(f"{f}={getattr(self, f)!r}"
                                                        for f in fields)


def _rng(*keys):
    return np.random.default_rng([SEED] + [int(k) for k in keys])


def random_config(name, index):
    """A random valid problem for `name` (one of CONV_NAMES), fully determined by the index."""
    dims, transposed = name_dims(name)
    rng = _rng(dims, transposed, index)
    pick = rng.random

    # channels and groups: plain, grouped, depthwise (with channel multiplier)
    r = pick()
    if r < 0.4:
        groups = 1
        in_pg, out_pg = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    elif r < 0.7:
        groups = int(rng.integers(2, 4))
        in_pg, out_pg = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    else:  # depthwise
        groups = int(rng.integers(2, 5))
        in_pg, out_pg = 1, int(rng.integers(1, 3))
    in_channels, out_channels = groups * in_pg, groups * out_pg

    kmax = {1: 5, 2: 4, 3: 3}[dims]
    kernel = tuple(int(k) for k in rng.integers(1, kmax + 1, dims))
    if pick() < 0.2:  # stride larger than the kernel
        stride = tuple(k + int(rng.integers(1, 3)) for k in kernel)
    else:
        stride = tuple(int(s) for s in rng.integers(1, 4, dims))
    if pick() < 0.5:
        dilation = (1,) * dims
    else:
        dilation = tuple(int(d) for d in rng.integers(1, 4, dims))
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))

    form = rng.choice(["int", "tuple", "pairs", "same", "valid"], p=[0.3, 0.25, 0.2, 0.15, 0.1])
    limit = [min(e - 1 if transposed else e, 3) for e in extent]
    if form == "int":
        padding = int(rng.integers(0, min(limit) + 1))
    elif form == "tuple":
        padding = tuple(int(rng.integers(0, m + 1)) for m in limit)
        if dims == 1 and pick() < 0.5:
            padding = padding[0]
    elif form == "pairs":
        padding = tuple((int(rng.integers(0, m + 1)), int(rng.integers(0, m + 1))) for m in limit)
    else:
        padding = str(form)

    output_padding = (0,) * dims
    if transposed and form != "same" and pick() < 0.5:
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))

    max_extra = {1: 9, 2: 5, 3: 3}[dims]
    spatial = []
    for axis in range(dims):
        if transposed:
            spatial.append(int(rng.integers(1, max_extra + 1)))
        else:
            begin, end, _ = resolve_padding(padding, dims, [1] * dims, kernel, stride, dilation,
                                            False)
            low = 1 if padding == "same" else max(1, extent[axis] - begin[axis] - end[axis],
                                                  begin[axis] + end[axis])
            spatial.append(low + int(rng.integers(0, max_extra + 1)))
    spatial = tuple(spatial)
    pad_begin, pad_end, extra = resolve_padding(padding, dims, spatial, kernel, stride, dilation,
                                                transposed)
    if transposed:  # make sure the output is not empty: grow the input when needed
        spatial = list(spatial)
        for axis in range(dims):
            while ((spatial[axis] - 1) * stride[axis] - pad_begin[axis] - pad_end[axis]
                   + extent[axis] + output_padding[axis]) < 1:
                spatial[axis] += 1
        spatial = tuple(spatial)

    layouts = ["contiguous", "channels_last", "sliced", "permuted", "reversed"]
    layout = str(rng.choice(layouts, p=[0.3, 0.3, 0.15, 0.15, 0.1]))
    weight_layout = str(rng.choice(["contiguous", "channels_last", "sliced", "permuted"],
                                   p=[0.5, 0.2, 0.15, 0.15]))
    grad_layout = str(rng.choice(["contiguous", "channels_last", "sliced"], p=[0.5, 0.3, 0.2]))
    algo = {1: "reference", 2: "im2col"}.get(index % 5, "auto")
    bias = bool(pick() < 0.6)
    r = pick()
    if r < 0.6:
        requires_grad = (True, True, bias)
    elif r < 0.75:
        requires_grad = (True, False, False)
    elif r < 0.9:
        requires_grad = (False, True, False)
    else:
        requires_grad = (False, False, bias) if bias else (True, False, False)
    batch = int(rng.choice([1, 1, 2, 3]))
    unbatched = bool(pick() < 0.08)
    if unbatched:
        batch = 1
    return ConvConfig(
        name=name, index=index, dims=dims, transposed=transposed,
        batch=batch, unbatched=unbatched,
        in_channels=in_channels, out_channels=out_channels, groups=groups, spatial=spatial,
        kernel=kernel, stride=stride, dilation=dilation, padding=padding, pad_begin=pad_begin,
        pad_end=pad_end, extra=extra, output_padding=output_padding, bias=bias,
        dtype=str(rng.choice(["float32", "float64"])), layout=layout,
        weight_layout=weight_layout, grad_layout=grad_layout, algo=algo,
        positional=bool(pick() < 0.5), requires_grad=requires_grad)


@dataclasses.dataclass
class ConvCase:
    """A configuration with its data (C-contiguous numpy arrays in the config's dtype) and the
    float64 torch reference results and magnitude bounds."""
    config: ConvConfig
    x: np.ndarray
    w: np.ndarray
    b: object
    grad_out: np.ndarray
    out: np.ndarray
    out_bound: np.ndarray
    grad_x: np.ndarray
    grad_x_bound: np.ndarray
    grad_w: np.ndarray
    grad_w_bound: np.ndarray
    grad_b: object
    grad_b_bound: object

    def layout_inputs_numpy(self):
        c = self.config
        x = make_layout_numpy(self.x, c.layout)
        x = x[0] if c.unbatched else x
        w = make_layout_numpy(self.w, c.weight_layout)
        return x, w, self._bias(make_layout_numpy)

    def layout_inputs_torch(self):
        c = self.config
        x = make_layout_torch(self.x, c.layout)
        x = x[0] if c.unbatched else x
        w = make_layout_torch(self.w, c.weight_layout)
        return x, w, self._bias(make_layout_torch)

    def _bias(self, maker):
        """every third configuration passes a strided (non-contiguous) bias"""
        if self.b is None:
            return None
        return maker(self.b, "sliced" if self.config.index % 3 == 0 else "contiguous")

    def expected(self, array):
        return array[0] if self.config.unbatched else array


def reference_for(config, x, w, b):
    c = config
    return torch_reference_conv(c.dims, c.transposed, x, w, b, c.stride, c.dilation, c.groups,
                                c.pad_begin, c.pad_end, c.output_padding, c.extra)


@functools.lru_cache(maxsize=None)
def conv_case(name, index):
    c = random_config(name, index)
    rng = _rng(99, c.dims, c.transposed, index)
    dtype = NP_DTYPES[c.dtype]
    x = rng.standard_normal(c.input_shape()).astype(dtype)
    w = rng.standard_normal(c.weight_shape()).astype(dtype)
    b = rng.standard_normal(c.out_channels).astype(dtype) if c.bias else None

    def t64(a, grad=False):
        if a is None:
            return None
        return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)

    tx, tw, tb = t64(x, True), t64(w, True), t64(b, True)
    out = reference_for(c, tx, tw, tb)
    grad_out = rng.standard_normal(tuple(out.shape)).astype(dtype)
    tg = t64(grad_out)
    grads = torch.autograd.grad(out, [t for t in (tx, tw, tb) if t is not None], tg)
    grad_x, grad_w = grads[0], grads[1]
    grad_b = grads[2] if b is not None else None
    with torch.no_grad():
        out_bound = reference_for(c, tx.abs(), tw.abs(), None if tb is None else tb.abs())
    # gradient bounds: the same vector-Jacobian products on absolute values
    ax, aw = tx.detach().abs().requires_grad_(), tw.detach().abs().requires_grad_()
    grad_x_bound = torch.autograd.grad(reference_for(c, ax, tw.detach().abs(), None), ax,
                                       tg.abs())[0]
    grad_w_bound = torch.autograd.grad(reference_for(c, tx.detach().abs(), aw, None), aw,
                                       tg.abs())[0]
    grad_b_bound = None
    if b is not None:
        grad_b_bound = tg.abs().sum(dim=[0] + list(range(2, tg.dim())))
    n = lambda t: None if t is None else t.detach().numpy()  # noqa: E731
    return ConvCase(c, x, w, b, grad_out, n(out), n(out_bound), n(grad_x), n(grad_x_bound),
                    n(grad_w), n(grad_w_bound), n(grad_b), n(grad_b_bound))


def subprocess_env(**overrides):
    """The environment for a child Python that must import this same fastconv build."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(overrides)
    return env


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests that change the thread count must not leak it into others."""
    threads = fastconv.get_num_threads()
    yield
    if fastconv.get_num_threads() != threads:
        fastconv.set_num_threads(threads)
