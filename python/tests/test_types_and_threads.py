"""Result types and layouts (numpy in -> numpy out, torch in -> torch out, dtype kept,
channels-last kept, unbatched inputs as torch), and the thread-count API."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from conftest import channels_last_numpy, is_channels_last_numpy, memory_formats, subprocess_env

CONV_NAMES = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"]


def _problem(name, dtype=np.float64, batch=2, seed=0):
    dims = int(name[-2])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 4) + (5, 4, 3)[:dims]).astype(dtype)
    if name.startswith("conv_transpose"):
        w = rng.standard_normal((4, 3) + (2, 3, 2)[:dims]).astype(dtype)
    else:
        w = rng.standard_normal((6, 2) + (2, 3, 2)[:dims]).astype(dtype)
    b = rng.standard_normal(w.shape[1] * 2 if name.startswith("conv_t") else 6).astype(dtype)
    return x, w, b


def _kwargs(name):
    if name.startswith("conv_transpose"):
        return dict(stride=2, padding=1, output_padding=1, groups=2)
    return dict(stride=1, padding=1, groups=2)


@pytest.mark.parametrize("name", CONV_NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_result_type_and_dtype_follow_the_input(name, dtype):
    x, w, b = _problem(name, dtype)
    function = getattr(fastconv, name)
    out = function(x, w, b, **_kwargs(name))
    assert type(out) is np.ndarray and out.dtype == dtype
    assert not np.shares_memory(out, x)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    tout = function(tx, tw, tb, **_kwargs(name))
    assert type(tout) is torch.Tensor and tout.dtype == tx.dtype
    assert tout.is_contiguous()
    np.testing.assert_array_equal(tout.numpy(), out)
    expected = getattr(F, name)(tx.double(), tw.double(), tb.double(), **_kwargs(name))
    torch.testing.assert_close(tout.double(), expected,
                               rtol=1e-10 if dtype == np.float64 else 1e-5,
                               atol=1e-10 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unfold_fold_windows_types(dtype):
    x = np.arange(2 * 3 * 5 * 4, dtype=dtype).reshape(2, 3, 5, 4)
    for array, kind in ((x, np.ndarray), (torch.from_numpy(x), torch.Tensor)):
        columns = fastconv.unfold(array, 2)
        assert type(columns) is kind and str(columns.dtype).endswith(np.dtype(dtype).name)
        image = fastconv.fold(columns, (5, 4), 2)
        assert type(image) is kind and str(image.dtype).endswith(np.dtype(dtype).name)
        view = fastconv.windows(array, 2)
        assert type(view) is kind and str(view.dtype).endswith(np.dtype(dtype).name)


@pytest.mark.parametrize("name", ["conv2d", "conv3d", "conv_transpose2d", "conv_transpose3d"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_channels_last_torch_input_gives_torch_memory_format(name, requires_grad):
    """channels-last in: the output's memory format is torch's (channels-last for conv2d,
    contiguous for conv3d and transposed convolution in torch 1.13; test_memory_format.py has
    every case)."""
    dims = int(name[-2])
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    x, w, b = (torch.from_numpy(a) for a in _problem(name))
    xcl = x.contiguous(memory_format=fmt).requires_grad_(requires_grad)
    assert not xcl.is_contiguous()
    out = getattr(fastconv, name)(xcl, w, b, **_kwargs(name))
    expected = getattr(F, name)(xcl.detach(), w, b, **_kwargs(name))
    assert memory_formats(out) == memory_formats(expected), out.stride()
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    if requires_grad:
        grad = torch.randn(out.shape, dtype=out.dtype)
        out.backward(grad)
        xr = x.clone().requires_grad_()
        getattr(F, name)(xr, w, b, **_kwargs(name)).backward(grad)
        torch.testing.assert_close(xcl.grad, xr.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CONV_NAMES)
def test_channels_last_numpy_input_gives_torch_memory_format(name):
    """numpy follows torch's rule too: channels-last out for conv2d only."""
    x, w, b = _problem(name)
    xcl = channels_last_numpy(x)
    out = getattr(fastconv, name)(xcl, w, b, **_kwargs(name))
    assert is_channels_last_numpy(out) == (name == "conv2d"), out.strides
    assert out.flags.c_contiguous == (name != "conv2d"), out.strides
    np.testing.assert_allclose(out, getattr(fastconv, name)(x, w, b, **_kwargs(name)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CONV_NAMES)
def test_unbatched_input_like_torch(name):
    x, w, b = _problem(name, batch=1)
    function = getattr(fastconv, name)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    expected = getattr(F, name)(tx[0], tw, tb, **_kwargs(name))
    assert expected.dim() == x.ndim - 1
    out = function(tx[0], tw, tb, **_kwargs(name))
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    out_np = function(x[0], w, b, **_kwargs(name))
    assert type(out_np) is np.ndarray and out_np.shape == tuple(expected.shape)
    np.testing.assert_allclose(out_np, expected.numpy(), rtol=1e-10, atol=1e-12)
    # and through autograd
    xr = tx[0].clone().requires_grad_()
    xf = tx[0].clone().requires_grad_()
    getattr(F, name)(xr, tw, tb, **_kwargs(name)).sum().backward()
    function(xf, tw, tb, **_kwargs(name)).sum().backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CONV_NAMES)
def test_broadcast_zero_stride_inputs(name):
    """Inputs with zero strides (numpy broadcast_to, torch expand) read correctly."""
    x, w, b = _problem(name)
    xb = np.broadcast_to(x[:1], x.shape)
    wb = np.broadcast_to(w[:, :1], w.shape)
    expected = getattr(F, name)(torch.from_numpy(xb.copy()), torch.from_numpy(wb.copy()),
                                torch.from_numpy(b), **_kwargs(name))
    out = getattr(fastconv, name)(xb, wb, b, **_kwargs(name))
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-10, atol=1e-12)
    tx = torch.from_numpy(x[:1]).expand(x.shape)
    tw = torch.from_numpy(np.ascontiguousarray(w[:, :1])).expand(w.shape)
    out = getattr(fastconv, name)(tx, tw, torch.from_numpy(b), **_kwargs(name))
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_misaligned_numpy_input():
    """A numpy array whose data is not aligned to its item size still works (it is copied)."""
    rng = np.random.default_rng(3)
    values = rng.standard_normal((1, 2, 6, 5)).astype(np.float32)
    buffer = bytearray(values.nbytes + 1)
    x = np.frombuffer(buffer, dtype=np.float32, count=values.size, offset=1).reshape(values.shape)
    x[...] = values
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = fastconv.conv2d(x, w, None, 1, 1)
    expected = F.conv2d(torch.from_numpy(values), torch.from_numpy(w), None, 1, 1)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fastconv.unfold(x, 2), F.unfold(torch.from_numpy(values), 2))


def test_empty_batch_like_torch():
    x = torch.zeros(0, 2, 5, 5)
    w = torch.randn(3, 2, 3, 3)
    out = fastconv.conv2d(x, w)
    assert out.shape == F.conv2d(x, w).shape == (0, 3, 3, 3)


# ---------------------------------------------------------------------------------------------
# threads


def test_num_threads_round_trip():
    original = fastconv.get_num_threads()
    assert isinstance(original, int) and original >= 1
    for n in (1, 2, 3, 1):
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n
    fastconv.set_num_threads(original)
    assert fastconv.get_num_threads() == original


def test_num_threads_independent_of_torch():
    original_torch = torch.get_num_threads()
    fastconv.set_num_threads(2)
    try:
        torch.set_num_threads(1)
        assert fastconv.get_num_threads() == 2
        x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
        fastconv.conv2d(x, w)
        assert fastconv.get_num_threads() == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(original_torch)


@pytest.mark.parametrize("environment,expected", [({"OMP_NUM_THREADS": "1"}, 1),
                                                  ({"OMP_NUM_THREADS": "3"}, 3),
                                                  ({"OMP_NUM_THREADS": "3,1"}, 3),
                                                  ({"OMP_NUM_THREADS": "0"}, None),
                                                  ({"OMP_NUM_THREADS": "many"}, None),
                                                  ({}, None)])
@pytest.mark.parametrize("torch_first", [False, True])
def test_default_thread_count(environment, expected, torch_first):
    """OMP_NUM_THREADS (first entry, when positive) or the processors available, whatever
    other libraries (torch.set_num_threads before the import) did."""
    env = subprocess_env(**environment)
    if "OMP_NUM_THREADS" not in environment:
        env.pop("OMP_NUM_THREADS", None)
    code = "import fastconv; print(fastconv.get_num_threads())"
    if torch_first:
        code = "import torch; torch.set_num_threads(1); " + code
    result = subprocess.run([sys.executable, "-c", code],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if expected is None:
        expected = len(os.sched_getaffinity(0))
    assert int(result.stdout) == expected


def _all_results(threads, algo):
    fastconv.set_num_threads(threads)
    rng = np.random.default_rng(42)
    results = []
    for dtype in (np.float32, np.float64):
        x = torch.from_numpy(rng.standard_normal((4, 8, 13, 11)).astype(dtype)).requires_grad_()
        w = torch.from_numpy(rng.standard_normal((12, 4, 3, 3)).astype(dtype)).requires_grad_()
        b = torch.from_numpy(rng.standard_normal(12).astype(dtype)).requires_grad_()
        y = fastconv.conv2d(x, w, b, 2, 1, 1, 2, algo=algo)
        y.backward(torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype(dtype)))
        results += [y.detach().numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy(),
                    b.grad.numpy().copy()]
        wt = torch.from_numpy(rng.standard_normal((8, 3, 3, 2)).astype(dtype)).requires_grad_()
        xt = x.detach().clone().requires_grad_()
        yt = fastconv.conv_transpose2d(xt, wt, None, 2, 1, 1, 1, algo=algo)
        yt.backward(torch.from_numpy(rng.standard_normal(tuple(yt.shape)).astype(dtype)))
        results += [yt.detach().numpy().copy(), xt.grad.numpy().copy(), wt.grad.numpy().copy()]
        x3 = rng.standard_normal((2, 4, 6, 7, 5)).astype(dtype)
        w3 = rng.standard_normal((6, 4, 2, 3, 2)).astype(dtype)
        results.append(fastconv.conv3d(x3, w3, None, 1, "same", algo=algo))
        x1 = rng.standard_normal((3, 16, 40)).astype(dtype)
        w1 = rng.standard_normal((16, 1, 5)).astype(dtype)
        results.append(fastconv.conv1d(x1, w1, None, 1, 2, 1, 16, algo=algo))
        columns = fastconv.unfold(x.detach().numpy(), (3, 2), 1, 1, 1, algo=algo)
        results.append(columns)
        results.append(fastconv.fold(columns, (13, 11), (3, 2), 1, 1, 1, algo=algo))
    return results


@pytest.mark.parametrize("algo", ["auto", "reference", "im2col"])
def test_results_identical_with_one_and_two_threads(algo):
    one = _all_results(1, algo)
    two = _all_results(2, algo)
    assert len(one) == len(two)
    for index, (a, b) in enumerate(zip(one, two)):
        np.testing.assert_array_equal(a, b, err_msg=f"result {index} ({algo})")
