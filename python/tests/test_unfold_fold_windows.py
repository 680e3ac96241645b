"""unfold / fold / windows: 2-D against torch.nn.functional.unfold / fold (bit-exact on
integer-valued inputs), 1-D and 3-D against direct loop definitions written here,
fold(unfold(x)) = x * window count, and windows() as a zero-copy view."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from conftest import make_layout_numpy, make_layout_torch

# ---------------------------------------------------------------------------------------------
# direct definitions (plain loops)


def _out_sizes(spatial, kernel, dilation, pad_begin, pad_end, stride):
    return [(s + b + e - ((k - 1) * d + 1)) // st + 1
            for s, k, d, b, e, st in zip(spatial, kernel, dilation, pad_begin, pad_end, stride)]


def unfold_direct(x, kernel, dilation, pad_begin, pad_end, stride):
    """columns[n, c * K + k_flat, o_flat] = x[n, c, o * stride + k * dilation - pad_begin]
    (zero outside x); k_flat and o_flat are row-major indices."""
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    outs = _out_sizes(spatial, kernel, dilation, pad_begin, pad_end, stride)
    volume = math.prod(kernel)
    columns = np.zeros((n_batch, channels * volume, math.prod(outs)), dtype=np.float64)
    for n, c in itertools.product(range(n_batch), range(channels)):
        for k_flat, k in enumerate(itertools.product(*[range(v) for v in kernel])):
            for o_flat, o in enumerate(itertools.product(*[range(v) for v in outs])):
                pos = [oi * s + ki * d - b for oi, ki, s, d, b in zip(o, k, stride, dilation,
                                                                         pad_begin)]
                if all(0 <= p < size for p, size in zip(pos, spatial)):
                    columns[n, c * volume + k_flat, o_flat] = x[(n, c) + tuple(pos)]
    return columns


def fold_direct(columns, output_size, kernel, dilation, pad_begin, pad_end, stride):
    """The adjoint of unfold_direct: every column entry is added at its source position."""
    n_batch = columns.shape[0]
    volume = math.prod(kernel)
    channels = columns.shape[1] // volume
    outs = _out_sizes(output_size, kernel, dilation, pad_begin, pad_end, stride)
    assert math.prod(outs) == columns.shape[2]
    image = np.zeros((n_batch, channels) + tuple(output_size), dtype=np.float64)
    for n, c in itertools.product(range(n_batch), range(channels)):
        for k_flat, k in enumerate(itertools.product(*[range(v) for v in kernel])):
            for o_flat, o in enumerate(itertools.product(*[range(v) for v in outs])):
                pos = [oi * s + ki * d - b for oi, ki, s, d, b in zip(o, k, stride, dilation,
                                                                         pad_begin)]
                if all(0 <= p < size for p, size in zip(pos, output_size)):
                    image[(n, c) + tuple(pos)] += columns[n, c * volume + k_flat, o_flat]
    return image


def window_count(spatial, kernel, dilation, pad_begin, pad_end, stride):
    """How many (window, kernel offset) pairs read each position."""
    count = np.zeros(tuple(spatial), dtype=np.int64)
    outs = _out_sizes(spatial, kernel, dilation, pad_begin, pad_end, stride)
    for k in itertools.product(*[range(v) for v in kernel]):
        for o in itertools.product(*[range(v) for v in outs]):
            pos = [oi * s + ki * d - b for oi, ki, s, d, b in zip(o, k, stride, dilation,
                                                                     pad_begin)]
            if all(0 <= p < size for p, size in zip(pos, spatial)):
                count[tuple(pos)] += 1
    return count


def windows_direct(x, kernel, stride, dilation):
    """view[n, c, o..., k...] = x[n, c, o * stride + k * dilation] (no padding)."""
    spatial = x.shape[2:]
    outs = [(s - ((k - 1) * d + 1)) // st + 1 for s, k, d, st in zip(spatial, kernel, dilation,
                                                                       stride)]
    out = np.zeros(x.shape[:2] + tuple(outs) + tuple(kernel), dtype=np.float64)
    for o in itertools.product(*[range(v) for v in outs]):
        for k in itertools.product(*[range(v) for v in kernel]):
            pos = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, stride, dilation))
            out[(slice(None), slice(None)) + o + k] = x[(slice(None), slice(None)) + pos]
    return out


# ---------------------------------------------------------------------------------------------
# random window problems


def random_window_config(dims, index):
    rng = np.random.default_rng([777, dims, index])
    kmax = {1: 4, 2: 3, 3: 2}[dims]
    kernel = tuple(int(v) for v in rng.integers(1, kmax + 1, dims))
    stride = tuple(int(v) for v in rng.integers(1, 4, dims))
    dilation = tuple(int(v) for v in rng.integers(1, 3, dims))
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    padding = tuple(int(rng.integers(0, min(e, 2) + 1)) for e in extent)
    spatial = tuple(max(1, e - 2 * p) + int(rng.integers(0, {1: 7, 2: 4, 3: 2}[dims] + 1))
                    for e, p in zip(extent, padding))
    return dict(batch=int(rng.integers(1, 3)), channels=int(rng.integers(1, 4)),
                spatial=spatial, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, dtype=("float32", "float64")[index % 2],
                layout=("contiguous", "channels_last", "sliced", "permuted")[index % 4],
                algo=("auto", "reference", "im2col")[index % 3])


def _integer_input(config, seed):
    rng = np.random.default_rng(seed)
    shape = (config["batch"], config["channels"]) + config["spatial"]
    return rng.integers(-8, 9, shape).astype(config["dtype"])


# ---------------------------------------------------------------------------------------------
# 2-D against torch


@pytest.mark.parametrize("index", range(40))
def test_unfold_2d_identical_to_torch(index):
    c = random_window_config(2, index)
    x = _integer_input(c, index)
    expected = F.unfold(torch.from_numpy(x), c["kernel"], c["dilation"], c["padding"],
                        c["stride"]).numpy()
    args = (c["kernel"], c["dilation"], c["padding"], c["stride"])
    out_np = fastconv.unfold(make_layout_numpy(x, c["layout"]), *args, algo=c["algo"])
    assert type(out_np) is np.ndarray and out_np.dtype == x.dtype
    np.testing.assert_array_equal(out_np, expected)
    out_t = fastconv.unfold(make_layout_torch(x, c["layout"]), *args, algo=c["algo"])
    assert type(out_t) is torch.Tensor and out_t.dtype == torch.from_numpy(x).dtype
    np.testing.assert_array_equal(out_t.numpy(), expected)
    # keyword arguments in torch's names
    out_kw = fastconv.unfold(torch.from_numpy(x), kernel_size=c["kernel"], dilation=c["dilation"],
                             padding=c["padding"], stride=c["stride"])
    np.testing.assert_array_equal(out_kw.numpy(), expected)


@pytest.mark.parametrize("index", range(40))
def test_fold_2d_identical_to_torch(index):
    c = random_window_config(2, index)
    size = c["spatial"]
    outs = _out_sizes(size, c["kernel"], c["dilation"], c["padding"], c["padding"], c["stride"])
    rng = np.random.default_rng(1000 + index)
    columns = rng.integers(-8, 9, (c["batch"], c["channels"] * math.prod(c["kernel"]),
                                   math.prod(outs))).astype(c["dtype"])
    args = (size, c["kernel"], c["dilation"], c["padding"], c["stride"])
    expected = F.fold(torch.from_numpy(columns), *args).numpy()
    out_np = fastconv.fold(columns, *args, algo=c["algo"])
    assert type(out_np) is np.ndarray and out_np.dtype == columns.dtype
    np.testing.assert_array_equal(out_np, expected)
    transposed_view = np.ascontiguousarray(columns.transpose(0, 2, 1)).transpose(0, 2, 1)
    out_t = fastconv.fold(torch.from_numpy(transposed_view), *args, algo=c["algo"])
    assert type(out_t) is torch.Tensor
    np.testing.assert_array_equal(out_t.numpy(), expected)


def test_unfold_fold_2d_unbatched_like_torch():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.integers(-5, 6, (3, 5, 6)).astype(np.float32))
    expected = F.unfold(x, (2, 3), 1, 1, 2)
    got = fastconv.unfold(x, (2, 3), 1, 1, 2)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    columns = torch.from_numpy(rng.integers(-5, 6, tuple(expected.shape)).astype(np.float32))
    expected = F.fold(columns, (5, 6), (2, 3), 1, 1, 2)
    got = fastconv.fold(columns, (5, 6), (2, 3), 1, 1, 2)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_unfold_int_kernel_rank_rule_like_torch():
    """An int kernel_size means a 2-D image for 3-D (unbatched) and 4-D inputs, as in torch:
    (2, 5, 5) is one image of 2 channels -> (8, 16), not a batch of 1-D signals."""
    rng = np.random.default_rng(6)
    for shape in ((2, 5, 5), (3, 2, 5, 5)):
        x = torch.from_numpy(rng.integers(-5, 6, shape).astype(np.float32))
        expected = F.unfold(x, 2)
        for array in (x, x.numpy()):
            got = fastconv.unfold(array, 2)
            assert tuple(got.shape) == tuple(expected.shape)
            np.testing.assert_array_equal(np.asarray(got), expected.numpy())
    assert fastconv.unfold(torch.zeros(2, 5, 5), 2).shape == (8, 16)
    # fold's unbatched rule: (C * prod(kernel), L) -> (C, *output_size), as torch
    columns = torch.from_numpy(rng.integers(-5, 6, (8, 16)).astype(np.float32))
    torch.testing.assert_close(fastconv.fold(columns, (5, 5), 2), F.fold(columns, (5, 5), 2),
                               rtol=0, atol=0)
    torch.testing.assert_close(fastconv.fold(columns, 5, (2, 2)), F.fold(columns, 5, (2, 2)),
                               rtol=0, atol=0)


def test_unfold_1d_and_3d_extensions_by_kernel_size():
    """1-D signals take kernel_size as a 1-tuple (batched (N, C, L) or unbatched (C, L)); an
    int kernel on a 5-D input is a batch of 3-D volumes; an int kernel on a 2-D input is
    refused with the way to ask for 1-D."""
    rng = np.random.default_rng(7)
    signal = rng.integers(-5, 6, (2, 3, 9)).astype(np.float64)
    expected = unfold_direct(signal, (4,), (1,), (0,), (0,), (1,))
    np.testing.assert_array_equal(fastconv.unfold(signal, (4,)), expected)
    np.testing.assert_array_equal(fastconv.unfold(signal[0], (4,)), expected[0])
    volume = rng.integers(-5, 6, (2, 2, 4, 5, 3)).astype(np.float64)
    expected = unfold_direct(volume, (2, 2, 2), (1,) * 3, (0,) * 3, (0,) * 3, (1,) * 3)
    np.testing.assert_array_equal(fastconv.unfold(volume, 2), expected)
    np.testing.assert_array_equal(fastconv.unfold(volume[0], (2, 2, 2)), expected[0])
    with pytest.raises(ValueError, match=r"kernel_size=\(k,\)"):
        fastconv.unfold(signal[0], 2)


# ---------------------------------------------------------------------------------------------
# 1-D and 3-D against the direct definitions


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("index", range(20))
def test_unfold_fold_1d_3d_direct(dims, index):
    c = random_window_config(dims, index)
    x = _integer_input(c, 50 + index)
    pads = c["padding"]
    expected = unfold_direct(x.astype(np.float64), c["kernel"], c["dilation"], pads, pads,
                             c["stride"])
    args = (c["kernel"], c["dilation"], c["padding"], c["stride"])
    for kind in ("numpy", "torch"):
        maker = make_layout_numpy if kind == "numpy" else make_layout_torch
        out = fastconv.unfold(maker(x, c["layout"]), *args, algo=c["algo"])
        assert str(out.dtype).endswith(c["dtype"])
        np.testing.assert_array_equal(np.asarray(out), expected, err_msg=f"{kind} {c}")
    # fold: random integer columns against the direct adjoint
    rng = np.random.default_rng(60 + index)
    columns = rng.integers(-8, 9, expected.shape).astype(c["dtype"])
    expected_fold = fold_direct(columns.astype(np.float64), c["spatial"], c["kernel"],
                                c["dilation"], pads, pads, c["stride"])
    fold_args = (c["spatial"],) + args
    np.testing.assert_array_equal(fastconv.fold(columns, *fold_args, algo=c["algo"]),
                                  expected_fold, err_msg=str(c))
    np.testing.assert_array_equal(
        fastconv.fold(torch.from_numpy(columns), *fold_args, algo=c["algo"]).numpy(),
        expected_fold, err_msg=str(c))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unfold_asymmetric_padding_direct(dims):
    c = random_window_config(dims, 3)
    x = _integer_input(c, 70)
    begin = (1, 0, 2)[:dims]
    end = (0, 2, 1)[:dims]
    pairs = tuple(zip(begin, end))
    expected = unfold_direct(x.astype(np.float64), c["kernel"], c["dilation"], begin, end,
                             c["stride"])
    out = fastconv.unfold(x, c["kernel"], c["dilation"], pairs, c["stride"])
    np.testing.assert_array_equal(out, expected)
    folded = fastconv.fold(out, c["spatial"], c["kernel"], c["dilation"], pairs, c["stride"])
    count = window_count(c["spatial"], c["kernel"], c["dilation"], begin, end, c["stride"])
    np.testing.assert_array_equal(folded, x * count)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("index", range(10))
def test_fold_of_unfold_is_input_times_window_count(dims, index):
    c = random_window_config(dims, 100 + index)
    x = _integer_input(c, 80 + index)
    args = (c["kernel"], c["dilation"], c["padding"], c["stride"])
    count = window_count(c["spatial"], c["kernel"], c["dilation"], c["padding"], c["padding"],
                         c["stride"])
    for array in (x, torch.from_numpy(x)):
        back = fastconv.fold(fastconv.unfold(array, *args), c["spatial"], *args)
        np.testing.assert_array_equal(np.asarray(back), x * count, err_msg=str(c))


def test_unfold_is_the_adjoint_of_fold():
    """<unfold(x), y> == <x, fold(y)> on random float64 data."""
    rng = np.random.default_rng(90)
    for dims in (1, 2, 3):
        c = random_window_config(dims, 7)
        x = rng.standard_normal((2, 2) + c["spatial"])
        args = (c["kernel"], c["dilation"], c["padding"], c["stride"])
        u = fastconv.unfold(x, *args)
        y = rng.standard_normal(u.shape)
        assert np.isclose(np.vdot(u, y), np.vdot(x, fastconv.fold(y, c["spatial"], *args)),
                          rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# windows


WINDOW_CASES = [
    (1, (9,), (3,), (1,), (1,)), (1, (10,), (2,), (3,), (2,)), (1, (7,), (3,), (5,), (1,)),
    (2, (6, 5), (2, 3), (1, 1), (1, 1)), (2, (7, 8), (3, 2), (2, 3), (1, 2)),
    (2, (9, 6), (2, 2), (1, 2), (3, 1)),
    (3, (4, 5, 4), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
    (3, (6, 5, 7), (2, 3, 2), (2, 1, 3), (2, 1, 1)),
]


@pytest.mark.parametrize("dims,spatial,kernel,stride,dilation", WINDOW_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_windows_numpy_zero_copy(dims, spatial, kernel, stride, dilation, layout):
    rng = np.random.default_rng(sum(spatial) + len(layout))
    x = make_layout_numpy(rng.standard_normal((2, 3) + spatial), layout)
    view = fastconv.windows(x, kernel, stride, dilation)
    assert type(view) is np.ndarray and view.dtype == x.dtype
    assert np.shares_memory(view, x)
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, windows_direct(x, kernel, stride, dilation))
    x[(0, 1) + (0,) * dims] = 123.0  # a write to the input shows through the view
    assert view[(0, 1) + (0,) * (2 * dims)] == 123.0


@pytest.mark.parametrize("dims,spatial,kernel,stride,dilation", WINDOW_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_windows_torch_zero_copy(dims, spatial, kernel, stride, dilation, layout):
    rng = np.random.default_rng(sum(spatial) + 7 * len(layout))
    values = rng.standard_normal((2, 3) + spatial).astype(np.float32)
    x = make_layout_torch(values, layout)
    view = fastconv.windows(x, kernel, stride, dilation)
    assert type(view) is torch.Tensor and view.dtype == torch.float32
    assert view.data_ptr() == x.data_ptr()
    assert view.storage().data_ptr() == x.storage().data_ptr()
    np.testing.assert_array_equal(view.numpy(), windows_direct(values, kernel, stride, dilation))
    x[(0, 1) + (0,) * dims] = 123.0
    assert view[(0, 1) + (0,) * (2 * dims)].item() == 123.0


def test_windows_int_arguments_and_shape():
    x = np.arange(2 * 3 * 8 * 7, dtype=np.float64).reshape(2, 3, 8, 7)
    view = fastconv.windows(x, 3, 2, 1)
    assert view.shape == (2, 3, 3, 3, 3, 3)
    np.testing.assert_array_equal(view, windows_direct(x, (3, 3), (2, 2), (1, 1)))
    # kernel sequence gives the rank
    x1 = np.arange(2 * 2 * 9, dtype=np.float32).reshape(2, 2, 9)
    np.testing.assert_array_equal(fastconv.windows(x1, (4,), (1,), (2,)),
                                  windows_direct(x1, (4,), (1,), (2,)))
