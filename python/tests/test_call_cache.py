"""The plan cache and the fast path of repeated calls (issue 20): a call signature seen before
reuses its plan and bound layout, and a change in anything the result depends on (layout,
dtype, thread count, autograd, lazy tensor states, alignment, inner-op parameters, weights'
values) is seen."""

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from fastconv import _fastconv

TOL = dict(rtol=1e-5, atol=1e-5)


def stats():
    return _fastconv.plan_cache_stats()


@pytest.fixture(autouse=True)
def fresh_cache():
    threads = fastconv.get_num_threads()
    _fastconv.set_plan_cache_capacity(256)
    _fastconv.clear_plan_cache()
    yield
    fastconv.set_num_threads(threads)
    _fastconv.set_plan_cache_capacity(256)
    _fastconv.clear_plan_cache()


def problem(dtype=torch.float32, seed=0, shape=(2, 4, 9, 9), out_channels=6, groups=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=dtype)
    w = torch.randn(out_channels, shape[-3] // groups, 3, 3, generator=generator, dtype=dtype)
    b = torch.randn(out_channels, generator=generator, dtype=dtype)
    return x, w, b


def test_repeated_calls_hit_the_cache():
    x, w, b = problem()
    first = fastconv.conv2d(x, w, b, padding=1)
    misses = stats()["misses"]
    for _ in range(5):
        torch.testing.assert_close(fastconv.conv2d(x, w, b, padding=1), first, rtol=0, atol=0)
    after = stats()
    assert after["misses"] == misses
    assert after["hits"] >= 5
    torch.testing.assert_close(first, F.conv2d(x, w, b, padding=1), **TOL)


@pytest.mark.parametrize("kind", ["torch", "numpy"])
def test_strides_and_views_after_a_cached_call(kind):
    x, w, b = problem()
    wide = torch.randn(2, 4, 9, 14)
    views = [x, x.contiguous(memory_format=torch.channels_last), wide[..., 2:11],
             x.transpose(2, 3).contiguous().transpose(2, 3), x.flip(3)]
    convert = (lambda t: t) if kind == "torch" else (lambda t: t.numpy())
    for view in views * 2:  # the second pass runs bound calls
        got = fastconv.conv2d(convert(view), convert(w), convert(b), padding=1)
        expected = F.conv2d(view, w, b, padding=1)
        torch.testing.assert_close(torch.as_tensor(np.asarray(got)) if kind == "numpy" else got,
                                   expected, **TOL)
        if kind == "torch":
            assert got.is_contiguous(memory_format=torch.channels_last) == \
                expected.is_contiguous(memory_format=torch.channels_last)


def test_thread_count_is_part_of_the_key():
    x, w, b = problem()
    fastconv.set_num_threads(1)
    one = fastconv.conv2d(x, w, b, padding=1)
    misses = stats()["misses"]
    fastconv.set_num_threads(2)
    two = fastconv.conv2d(x, w, b, padding=1)
    assert stats()["misses"] == misses + 1
    fastconv.set_num_threads(1)
    fastconv.conv2d(x, w, b, padding=1)
    assert stats()["misses"] == misses + 1  # the 1-thread plan again
    torch.testing.assert_close(one, two, rtol=0, atol=0)


def test_dtype_and_shape_changes():
    for dtype in (torch.float32, torch.float64, torch.float32):
        for shape in ((2, 4, 9, 9), (1, 4, 9, 9), (4, 9, 9), (2, 4, 9, 9)):
            x, w, b = problem(dtype, shape=shape)
            got = fastconv.conv2d(x, w, b, padding=1)
            assert got.dtype == dtype and got.shape == F.conv2d(x, w, b, padding=1).shape
            torch.testing.assert_close(got, F.conv2d(x, w, b, padding=1), **TOL)


def test_parameters_changes():
    x, w, b = problem()
    for _ in range(2):
        for kwargs in (dict(padding=1), dict(padding=1, stride=2), dict(padding=(1, 0)),
                       dict(padding=2, dilation=2), dict(padding="same"), dict(padding=1),
                       dict(padding=[1, 1])):
            torch.testing.assert_close(fastconv.conv2d(x, w, b, **kwargs),
                                       F.conv2d(x, w, b, **kwargs), **TOL)
        xg, wg, bg = problem(groups=2)
        torch.testing.assert_close(fastconv.conv2d(xg, wg, bg, padding=1, groups=2),
                                   F.conv2d(xg, wg, bg, padding=1, groups=2), **TOL)
        torch.testing.assert_close(fastconv.conv2d(x, w, None, padding=1),
                                   F.conv2d(x, w, None, padding=1), **TOL)


def test_other_convolutions_repeat():
    generator = torch.Generator().manual_seed(1)
    x1, w1 = torch.randn(2, 3, 17, generator=generator), torch.randn(5, 3, 3, generator=generator)
    x3 = torch.randn(1, 2, 5, 6, 7, generator=generator)
    w3 = torch.randn(4, 2, 3, 3, 3, generator=generator)
    wt = torch.randn(4, 6, 3, 3, generator=generator)
    xt = torch.randn(2, 4, 7, 7, generator=generator)
    for _ in range(3):
        torch.testing.assert_close(fastconv.conv1d(x1, w1, padding=1), F.conv1d(x1, w1, padding=1),
                                   **TOL)
        torch.testing.assert_close(fastconv.conv3d(x3, w3, padding=1), F.conv3d(x3, w3, padding=1),
                                   **TOL)
        torch.testing.assert_close(fastconv.conv_transpose2d(xt, wt, stride=2, output_padding=1),
                                   F.conv_transpose2d(xt, wt, stride=2, output_padding=1), **TOL)


def test_autograd_after_a_bound_call():
    x, w, b = problem()
    with torch.no_grad():
        fastconv.conv2d(x, w, b, padding=1)
        fastconv.conv2d(x, w, b, padding=1)
    w.requires_grad_(True)
    out = fastconv.conv2d(x, w, b, padding=1)
    assert out.grad_fn is not None
    out.sum().backward()
    w_ref = w.detach().clone().requires_grad_(True)
    F.conv2d(x, w_ref, b, padding=1).sum().backward()
    torch.testing.assert_close(w.grad, w_ref.grad, **TOL)
    # grad mode on but nothing requires grad: a plain result
    w.requires_grad_(False)
    assert fastconv.conv2d(x, w, b, padding=1).grad_fn is None


def test_lazy_negation_after_a_bound_call():
    x, w, b = problem()
    fastconv.conv2d(x, w, b, padding=1)
    fastconv.conv2d(x, w, b, padding=1)
    values = torch.randn(x.shape)
    negated = torch._neg_view(values)  # the negation bit, strides as x's: the same signature
    assert negated.is_neg() and negated.stride() == x.stride()
    torch.testing.assert_close(fastconv.conv2d(negated, w, b, padding=1),
                               F.conv2d(-values, w, b, padding=1), **TOL)


def test_other_device_after_a_bound_call():
    x, w, b = problem()
    fastconv.conv2d(x, w, b, padding=1)
    fastconv.conv2d(x, w, b, padding=1)
    with pytest.raises(TypeError, match="device"):
        fastconv.conv2d(x.to("meta"), w, b, padding=1)


def test_misaligned_numpy_after_a_bound_call():
    x, w, b = (t.numpy() for t in problem())
    expected = F.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), padding=1).numpy()
    for _ in range(2):
        np.testing.assert_allclose(fastconv.conv2d(x, w, b, padding=1), expected, rtol=1e-5,
                                   atol=1e-5)
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(x.shape)
    misaligned[...] = x
    assert misaligned.strides == x.strides and misaligned.ctypes.data % 4
    for _ in range(2):
        np.testing.assert_allclose(fastconv.conv2d(misaligned, w, b, padding=1), expected,
                                   rtol=1e-5, atol=1e-5)


def test_weights_changed_in_place_are_read():
    layer = fastconv.nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        layer(x)
        layer(x)
        layer.weight.mul_(2.0)
        layer.bias.add_(1.0)
        torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1),
                                   **TOL)


def test_errors_are_still_raised_after_bound_calls():
    x, w, b = problem()
    fastconv.conv2d(x, w, b, padding=1)
    fastconv.conv2d(x, w, b, padding=1)
    with pytest.raises(TypeError):
        fastconv.conv2d(x, w.double(), b, padding=1)
    with pytest.raises(TypeError):
        fastconv.conv2d(x, w.numpy(), b, padding=1)
    with pytest.raises(ValueError):
        fastconv.conv2d(x, w, b, padding=1, algo="no_such_engine")
    with pytest.raises(ValueError):
        fastconv.conv2d(x, w, torch.randn(5), padding=1)


def test_custom_op_parameters_are_part_of_the_key():
    x, w, b = problem()
    results = []
    for scale in (1.0, 2.0, 1.0):
        results.append(fastconv.custom_conv2d(x, w, b, padding=1, combine="p * x * w",
                                              params={"p": scale}))
    torch.testing.assert_close(results[1], 2 * results[0] - b.view(1, -1, 1, 1), **TOL)
    torch.testing.assert_close(results[2], results[0], rtol=0, atol=0)
    pads = [fastconv.custom_conv2d(x, w, None, padding=1, combine="x + w", reduce="max",
                                   pad_value=value) for value in (0.0, -1e30)]
    assert not torch.equal(pads[0], pads[1])


@pytest.mark.parametrize("kind", ["torch", "numpy"])
def test_prepared_conv_repeats(kind):
    x, w, b = problem()
    convert = (lambda t: t) if kind == "torch" else (lambda t: t.numpy())
    prepared = fastconv.prepare_conv(convert(x), convert(w), convert(b), padding=1)
    expected = F.conv2d(x, w, b, padding=1)
    wide = torch.randn(2, 4, 9, 14)
    for view in (x, x, wide[..., 1:10], wide[..., 1:10],
                 x.contiguous(memory_format=torch.channels_last)):
        got = prepared(convert(view))
        torch.testing.assert_close(torch.as_tensor(np.asarray(got)) if kind == "numpy" else got,
                                   F.conv2d(view, w, b, padding=1), **TOL)
    torch.testing.assert_close(torch.as_tensor(np.asarray(prepared(convert(x)))), expected, **TOL)
    with pytest.raises(ValueError):
        prepared(convert(torch.randn(1, 4, 9, 9)))


def test_bounded_size():
    _fastconv.set_plan_cache_capacity(2)
    for width in range(5, 12):
        x = torch.randn(1, 2, 5, width)
        w = torch.randn(3, 2, 3, 3)
        torch.testing.assert_close(fastconv.conv2d(x, w), F.conv2d(x, w), **TOL)
    current = stats()
    assert current["size"] <= 2 and current["evictions"] >= 5


def test_concurrent_calls_from_threads():
    _fastconv.set_plan_cache_capacity(3)  # smaller than the set of problems: evictions meanwhile
    cases = []
    for width in range(6, 11):
        x, w, b = problem(shape=(1, 4, 8, width), seed=width)
        cases.append((x, w, b, F.conv2d(x, w, b, padding=1)))
    failures = []

    def worker(offset):
        try:
            for round_index in range(80):
                x, w, b, expected = cases[(round_index + offset) % len(cases)]
                data = (x, w, b) if round_index % 2 else (x.numpy(), w.numpy(), b.numpy())
                got = torch.as_tensor(np.asarray(fastconv.conv2d(*data, padding=1)))
                if not torch.allclose(got, expected, **TOL):
                    failures.append((offset, round_index))
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_custom_op_fast_path_follows_the_arguments():
    """CustomOp.conv*d and custom_conv*d remember checked calls like fastconv.conv*d: a
    repeated call gives the same values, and what changes between calls (autograd, params=,
    out=, shapes, a bool where an int was) takes the checked path."""
    rng = np.random.default_rng(21)
    x = rng.uniform(-1, 1, (2, 3, 6, 5)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)
    op = fastconv.custom_op(combine="x * w - gamma * (x - w) ** 2", params={"gamma": 0.5})
    first = op.conv2d(x, w, padding=1)
    for _ in range(3):
        np.testing.assert_array_equal(op.conv2d(x, w, padding=1), first)
    other = op.conv2d(x, w, padding=1, params={"gamma": 0.0})
    assert not np.array_equal(other, first)
    np.testing.assert_array_equal(op.conv2d(x, w, padding=1), first)
    out = np.empty_like(first)
    assert op.conv2d(x, w, padding=1, out=out) is out
    np.testing.assert_array_equal(out, first)
    np.testing.assert_array_equal(op.conv2d(x[:1], w, padding=1), first[:1])
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    torch.testing.assert_close(op.conv2d(xt, wt, padding=1), torch.from_numpy(first))
    xg = xt.clone().requires_grad_()
    y = op.conv2d(xg, wt, padding=1)
    assert y.requires_grad
    y.sum().backward()
    assert xg.grad is not None
    kwargs = dict(combine="-abs(x - w)")
    a = fastconv.custom_conv2d(x, w, None, 1, 1, **kwargs)
    np.testing.assert_array_equal(fastconv.custom_conv2d(x, w, None, 1, 1, **kwargs), a)
    with pytest.raises(TypeError):
        fastconv.custom_conv2d(x, w, None, True, 1, **kwargs)
    with pytest.raises(TypeError):
        fastconv.custom_conv2d(x, w, None, 1, 1, combine="-abs(x - w)", pad_value="0")
