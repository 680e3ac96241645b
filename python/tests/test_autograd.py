"""torch.autograd.gradcheck on small float64 problems for every differentiable function, plus
the autograd plumbing: which gradients are produced, no_grad, non-leaf inputs, chaining."""

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

import fastconv

CONV = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}
CONV_T = {1: fastconv.conv_transpose1d, 2: fastconv.conv_transpose2d,
          3: fastconv.conv_transpose3d}
SPATIAL = {1: (7,), 2: (5, 4), 3: (4, 3, 3)}


def _tensor(generator, shape, requires_grad=True):
    return torch.randn(shape, generator=generator, dtype=torch.float64,
                       requires_grad=requires_grad)


# (kernel, stride, padding, dilation, groups, in_channels, out_channels, bias, algo)
CONV_CASES = [
    (2, 1, 0, 1, 1, 2, 3, True, "auto"),
    (3, 2, 1, 1, 1, 2, 2, False, "auto"),
    (2, 1, 1, 2, 2, 4, 2, True, "auto"),          # dilation, groups
    (3, 1, "same", 1, 3, 3, 3, True, "auto"),     # depthwise, same
    (2, 3, "valid", 1, 1, 1, 2, False, "auto"),   # stride > kernel
    (2, 2, "pairs", 1, 1, 2, 2, True, "reference"),
    (3, 2, "same", 2, 2, 2, 4, True, "im2col"),   # same with stride, depthwise multiplier
]


def _pairs(dims, index):
    return tuple(((index + d) % 2, (index + d + 1) % 3) for d in range(dims))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_gradcheck_conv(dims, case):
    kernel, stride, padding, dilation, groups, cin, cout, bias, algo = CONV_CASES[case]
    if padding == "pairs":
        padding = _pairs(dims, case)
    g = torch.Generator().manual_seed(1000 * dims + case)
    batch = 2 if dims < 3 else 1
    x = _tensor(g, (batch, cin) + SPATIAL[dims])
    w = _tensor(g, (cout, cin // groups) + (kernel,) * dims)
    b = _tensor(g, (cout,)) if bias else None
    function = CONV[dims]
    inputs = (x, w) if b is None else (x, w, b)

    def f(x, w, b=None):
        return function(x, w, b, stride, padding, dilation, groups, algo=algo)

    assert gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


# (kernel, stride, padding, output_padding, dilation, groups, in_channels, out_channels, bias)
CONV_T_CASES = [
    (2, 1, 0, 0, 1, 1, 2, 3, True),
    (3, 2, 1, 1, 1, 1, 2, 2, False),               # output_padding < stride
    (2, 1, 0, 1, 2, 2, 2, 4, True),                # output_padding < dilation (>= stride)
    (3, 2, "same", 0, 1, 3, 3, 3, True),           # depthwise, same
    (2, 3, "valid", 2, 1, 1, 1, 2, False),         # stride > kernel, output_padding 2
    (2, 2, "pairs", 1, 1, 1, 2, 2, True),
    (1, 3, "same", 0, 1, 1, 2, 1, True),           # same with extent < stride (extra at end)
]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(CONV_T_CASES)))
def test_gradcheck_conv_transpose(dims, case):
    kernel, stride, padding, output_padding, dilation, groups, cin, cout, bias = CONV_T_CASES[case]
    if padding == "pairs":
        padding = _pairs(dims, case)
    g = torch.Generator().manual_seed(2000 * dims + case)
    spatial = {1: (5,), 2: (3, 3), 3: (2, 3, 2)}[dims]
    x = _tensor(g, (2 if dims < 3 else 1, cin) + spatial)
    w = _tensor(g, (cin, cout // groups) + (kernel,) * dims)
    b = _tensor(g, (cout,)) if bias else None
    function = CONV_T[dims]
    algo = ("auto", "reference", "im2col")[case % 3]
    inputs = (x, w) if b is None else (x, w, b)

    def f(x, w, b=None):
        return function(x, w, b, stride, padding, output_padding, groups, dilation, algo=algo)

    assert gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("algo", ["auto", "reference", "im2col"])
def test_gradcheck_unfold_fold(dims, algo):
    g = torch.Generator().manual_seed(3000 + dims)
    spatial = {1: (8,), 2: (5, 4), 3: (4, 3, 4)}[dims]
    kernel = {1: (3,), 2: (2, 3), 3: (2, 2, 2)}[dims]
    stride = {1: (2,), 2: (1, 2), 3: (2, 1, 1)}[dims]
    dilation = {1: (2,), 2: (2, 1), 3: (1, 1, 2)}[dims]
    padding = {1: (1,), 2: (1, 0), 3: (0, 1, 1)}[dims]
    x = _tensor(g, (2, 2) + spatial)

    def unfold(x):
        return fastconv.unfold(x, kernel, dilation, padding, stride, algo=algo)

    assert gradcheck(unfold, (x,), eps=1e-6, atol=1e-8, rtol=1e-6)
    columns = unfold(x.detach())
    c = _tensor(g, tuple(columns.shape))

    def fold(c):
        return fastconv.fold(c, spatial, kernel, dilation, padding, stride, algo=algo)

    assert gradcheck(fold, (c,), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradcheck_unfold_asymmetric_padding():
    g = torch.Generator().manual_seed(3100)
    x = _tensor(g, (1, 2, 5, 4))
    assert gradcheck(lambda x: fastconv.unfold(x, (2, 2), 1, ((1, 0), (0, 2)), (2, 1)), (x,),
                     eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradcheck_unbatched_and_channels_last():
    g = torch.Generator().manual_seed(3200)
    x = _tensor(g, (3, 5, 4), requires_grad=False).requires_grad_()
    w = _tensor(g, (2, 3, 2, 2))
    assert gradcheck(lambda x, w: fastconv.conv2d(x, w, None, 1, 1), (x, w), eps=1e-6,
                     atol=1e-8, rtol=1e-6)
    xcl = _tensor(g, (2, 3, 4, 4), requires_grad=False).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    assert gradcheck(lambda x, w: fastconv.conv2d(x, w, None, 2, 1), (xcl, w), eps=1e-6,
                     atol=1e-8, rtol=1e-6)
    wt = _tensor(g, (3, 2, 2, 2))
    assert gradcheck(lambda x, w: fastconv.conv_transpose2d(x, w, None, 2, 0, 1), (xcl, wt),
                     eps=1e-6, atol=1e-8, rtol=1e-6)


def test_only_requested_gradients_are_computed():
    g = torch.Generator().manual_seed(3300)
    x = _tensor(g, (1, 2, 5, 5), requires_grad=False)
    w = _tensor(g, (3, 2, 3, 3))
    b = _tensor(g, (3,), requires_grad=False)
    fastconv.conv2d(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None
    assert w.grad is not None
    w2 = w.detach().clone().requires_grad_()
    torch.nn.functional.conv2d(x, w2, b).sum().backward()
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-12, atol=1e-12)


def test_no_grad_gives_plain_tensor():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        y = fastconv.conv2d(x, w)
    assert not y.requires_grad and y.grad_fn is None
    y = fastconv.conv2d(x, w)
    assert y.requires_grad and y.grad_fn is not None


def test_non_leaf_inputs_and_chaining_match_torch():
    """Gradients flow through fastconv into earlier torch operations and through two fastconv
    layers, as with torch."""
    g = torch.Generator().manual_seed(3400)
    x0 = _tensor(g, (2, 3, 9, 8))
    w1 = _tensor(g, (4, 3, 3, 3))
    w2 = _tensor(g, (4, 2, 2, 2))
    b2 = _tensor(g, (2,))

    def network(conv, conv_t):
        h = conv((x0 * 2).permute(0, 1, 3, 2), w1, None, 2, 1)   # non-leaf, non-contiguous
        h = torch.tanh(h)
        return conv_t(h, w2, b2, 2, 0, 1)

    fc = network(fastconv.conv2d, fastconv.conv_transpose2d)
    ref = network(torch.nn.functional.conv2d, torch.nn.functional.conv_transpose2d)
    torch.testing.assert_close(fc, ref, rtol=1e-10, atol=1e-12)
    weights = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    grads_fc = torch.autograd.grad((fc * weights).sum(), [x0, w1, w2, b2])
    grads_ref = torch.autograd.grad((ref * weights).sum(), [x0, w1, w2, b2])
    for a, b in zip(grads_fc, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_gradients_of_float32_have_float32_dtype():
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    wt = torch.randn(3, 2, 3, 3, requires_grad=True)
    fastconv.conv_transpose2d(x, wt, None, 2).sum().backward()
    assert x.grad.dtype == torch.float32 and wt.grad.dtype == torch.float32
    fastconv.conv2d(x, w, b).sum().backward()
    assert w.grad.dtype == torch.float32 and b.grad.dtype == torch.float32
    assert np.isfinite(w.grad.numpy()).all()
