"""out= on every functional op (fastconv.conv*d, conv_transpose*d, unfold, fold, custom_conv*d)
and the large results' allocation (_arrays.LARGE_RESULT_BYTES: numpy memory shared with torch)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from fastconv import _arrays

RNG = np.random.default_rng(11)


def _pair(shape, kind, dtype=np.float32):
    a = RNG.uniform(-1, 1, shape).astype(dtype)
    return torch.from_numpy(a) if kind == "torch" else a


CASES = [  # (function, input shape, weight shape or None, kwargs, torch reference)
    ("conv1d", (2, 3, 9), (4, 3, 3), dict(stride=2, padding=1),
     lambda x, w, k: F.conv1d(x, w, **k)),
    ("conv2d", (2, 4, 7, 6), (6, 2, 3, 2), dict(padding=1, dilation=(1, 2), groups=2),
     lambda x, w, k: F.conv2d(x, w, **k)),
    ("conv3d", (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(padding=1),
     lambda x, w, k: F.conv3d(x, w, **k)),
    ("conv_transpose1d", (2, 3, 5), (3, 2, 3), dict(stride=2, output_padding=1),
     lambda x, w, k: F.conv_transpose1d(x, w, **k)),
    ("conv_transpose2d", (1, 4, 5, 4), (4, 3, 3, 3), dict(stride=2, padding=1, groups=2),
     lambda x, w, k: F.conv_transpose2d(x, w, **k)),
    ("conv_transpose3d", (1, 2, 3, 3, 2), (2, 2, 2, 2, 2), dict(stride=(1, 2, 1)),
     lambda x, w, k: F.conv_transpose3d(x, w, **k)),
]


def _call(name, x, w, out=None, **kwargs):
    return getattr(fastconv, name)(x, w, out=out, **kwargs)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_out_matches_the_result_and_is_returned(case, kind):
    name, xs, ws, kwargs, reference = case
    x, w = _pair(xs, kind), _pair(ws, kind)
    expected = _call(name, x, w, **kwargs)
    out = np.full(expected.shape, np.nan, np.float32)
    out = torch.from_numpy(out) if kind == "torch" else out
    result = _call(name, x, w, out, **kwargs)
    assert result is out
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    ref = reference(torch.as_tensor(np.asarray(x)).double(), torch.as_tensor(np.asarray(w)).double(),
                    kwargs)
    np.testing.assert_allclose(np.asarray(out), ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_out_with_strides_unbatched_and_channels_last(kind):
    x, w = _pair((3, 8, 7), kind), _pair((5, 3, 3, 3), kind)  # unbatched (C, H, W)
    expected = fastconv.conv2d(x, w, padding=1)
    big = np.full((5, 16, 7 * 3), np.nan, np.float32)
    if kind == "torch":
        big = torch.from_numpy(big)
    out = big[:, ::2, ::3]  # a strided view
    assert fastconv.conv2d(x, w, padding=1, out=out) is out
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    assert np.isnan(np.asarray(big)[:, 1::2]).all()  # nothing outside the view written
    if kind == "torch":
        xb = torch.from_numpy(RNG.uniform(-1, 1, (2, 3, 6, 5)).astype(np.float32))
        out = torch.empty(2, 5, 6, 5).to(memory_format=torch.channels_last)
        fastconv.conv2d(xb, w, padding=1, out=out)
        torch.testing.assert_close(out, F.conv2d(xb, w, padding=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_out_for_unfold_fold_and_custom(kind):
    x = _pair((2, 3, 6, 5), kind)
    cols = fastconv.unfold(x, 3, padding=1)
    out = np.empty(cols.shape, np.float32)
    out = torch.from_numpy(out) if kind == "torch" else out
    assert fastconv.unfold(x, 3, padding=1, out=out) is out
    np.testing.assert_array_equal(np.asarray(out), np.asarray(cols))
    image = fastconv.fold(cols, (6, 5), 3, padding=1)
    out = np.empty(image.shape, np.float32)
    out = torch.from_numpy(out) if kind == "torch" else out
    assert fastconv.fold(cols, (6, 5), 3, padding=1, out=out) is out
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image))
    w = _pair((4, 3, 3, 3), kind)
    y = fastconv.custom_conv2d(x, w, padding=1, combine="-abs(x - w)")
    out = np.empty(y.shape, np.float32)
    out = torch.from_numpy(out) if kind == "torch" else out
    assert fastconv.custom_conv2d(x, w, padding=1, combine="-abs(x - w)", out=out) is out
    np.testing.assert_array_equal(np.asarray(out), np.asarray(y))


def test_bad_out_is_a_clear_error_and_writes_nothing():
    x, w = _pair((1, 2, 5, 5), "numpy"), _pair((3, 2, 3, 3), "numpy")
    with pytest.raises(ValueError, match=r"out has shape \(1, 3, 3, 4\); the result's is \(1, 3, 3, 3\)"):
        fastconv.conv2d(x, w, out=np.zeros((1, 3, 3, 4), np.float32))
    with pytest.raises(TypeError, match="out is float64 but input is float32"):
        fastconv.conv2d(x, w, out=np.zeros((1, 3, 3, 3)))
    with pytest.raises(TypeError, match="out is a Tensor but input is a ndarray"):
        fastconv.conv2d(x, w, out=torch.zeros(1, 3, 3, 3))
    read_only = np.zeros((1, 3, 3, 3), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastconv.conv2d(x, w, out=read_only)
    # out overlapping an input: refused by the core before anything is written
    buffer = np.zeros((1, 2, 5, 5), np.float32)
    buffer[...] = x
    with pytest.raises(ValueError, match="overlaps"):
        fastconv.conv2d(buffer, w[:2, :, :, :].copy()[:2], out=buffer[:, :2, :3, :3])
    np.testing.assert_array_equal(buffer, x)
    xt, wt = torch.rand(1, 2, 5, 5, requires_grad=True), torch.rand(3, 2, 3, 3)
    with pytest.raises(RuntimeError, match="out= does not support automatic differentiation"):
        fastconv.conv2d(xt, wt, out=torch.empty(1, 3, 3, 3))
    with torch.no_grad():
        out = torch.empty(1, 3, 3, 3)
        fastconv.conv2d(xt, wt, out=out)
        torch.testing.assert_close(out, F.conv2d(xt, wt))
    with pytest.raises(ValueError, match="pending negation"):
        fastconv.conv2d(xt.detach(), wt, out=torch.empty(1, 3, 3, 3)._neg_view())


@pytest.mark.parametrize("channels_last", [False, True])
def test_large_torch_results_share_numpy_memory(channels_last):
    x = torch.rand(1, 3, 700, 700)
    w = torch.rand(4, 3, 3, 3)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = fastconv.conv2d(x, w, padding=1)
    assert y.numel() * 4 >= _arrays.LARGE_RESULT_BYTES
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last else
                           torch.contiguous_format)
    assert y._base is None  # not a view: autograd may modify it in place
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)
    y.add_(1)  # writable
    x.requires_grad_(True)
    z = fastconv.conv2d(x, w, padding=1)
    z.relu_()  # in place after the Function, as ReLU(inplace=True)
    z.sum().backward()
    assert x.grad.shape == x.shape


def test_large_results_reuse_freed_memory_within_the_pool_bound():
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 600, 600)).astype(np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    first = fastconv.conv2d(x, w, padding=1)
    address = first.ctypes.data
    expected = first.copy()
    del first  # its block goes back to the pool...
    second = fastconv.conv2d(x, w, padding=1)
    assert second.ctypes.data == address  # ...and serves the next result of that size
    assert second.flags.writeable
    np.testing.assert_array_equal(second, expected)
    alive = fastconv.conv2d(x, w, padding=1)  # a live result's block is never handed out
    assert alive.ctypes.data != second.ctypes.data
    tensor = fastconv.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    assert tensor.data_ptr() not in (second.ctypes.data, alive.ctypes.data)
    pool = _arrays._pool
    assert pool.idle_bytes <= pool.limit
    del second, alive, tensor
    assert pool.idle_bytes <= pool.limit


def test_result_pool_can_be_turned_off():
    import subprocess
    import sys
    code = ("import numpy as np, fastconv; from fastconv import _arrays\n"
            "x = np.ones((1, 3, 600, 600), np.float32); w = np.ones((4, 3, 3, 3), np.float32)\n"
            "y = fastconv.conv2d(x, w); del y; y = fastconv.conv2d(x, w)\n"
            "assert _arrays._pool.limit == 0 and _arrays._pool.idle_bytes == 0 and y.flags.owndata\n")
    env = dict(__import__("os").environ, FASTCONV_RESULT_POOL_MB="0")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
