"""Arrays whose memory does not hold their values as they read: torch tensors with a pending
negation (x.is_neg(), e.g. torch.complex(a, b).conj().imag) or no memory at all (efficient zero
tensors), and numpy arrays in a non-native byte order. fastconv must read their values, never
their raw memory (which would give exactly -F.conv2d(x, w) for a negated view), everywhere
tensors enter: inputs, weights, biases, gradients in backward, prepared convolutions, modules,
unfold / fold / windows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv

CONVS = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d"]


def neg_view(values):
    """A tensor equal to `values` whose memory holds -values and whose neg bit is set, made
    the way users meet them: the imaginary part of a conjugated complex tensor."""
    view = torch.complex(torch.zeros_like(values), -values).conj().imag
    assert view.is_neg() and torch.equal(view, values)
    return view


def _problem(name, seed=0):
    dims = int(name[-2])
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((2, 4) + (7, 6, 5)[:dims], generator=generator, dtype=torch.float64)
    if name.startswith("conv_transpose"):
        w = torch.randn((4, 3) + (3, 2, 2)[:dims], generator=generator, dtype=torch.float64)
    else:
        w = torch.randn((3, 4) + (3, 2, 2)[:dims], generator=generator, dtype=torch.float64)
    b = torch.randn(3, generator=generator, dtype=torch.float64)
    return x, w, b


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("negated", ["input", "weight", "bias", "all"])
def test_negated_views_as_operands(name, negated):
    x, w, b = _problem(name)
    expected = getattr(F, name)(x, w, b, stride=2, padding=1)
    operands = {"input": x, "weight": w, "bias": b}
    for key in operands:
        if negated in (key, "all"):
            operands[key] = neg_view(operands[key])
    out = getattr(fastconv, name)(operands["input"], operands["weight"], operands["bias"],
                                  stride=2, padding=1)
    _close(out, expected)


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("negated", ["input", "weight", "gradient"])
def test_negated_views_through_autograd(name, negated):
    """A neg view of a leaf as input or as weight, or a negated gradient given to backward()
    (one at a time: two negations read as raw memory would cancel): every gradient is torch's."""
    x, w, b = _problem(name)
    grad = torch.randn(getattr(F, name)(x, w, b, stride=2, padding=1).shape, dtype=torch.float64)
    results = []
    for module in (F, fastconv):
        wrap = {key: (neg_view if module is fastconv and key == negated else lambda t: t)
                for key in ("input", "weight", "gradient")}
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        out = getattr(module, name)(wrap["input"](leaves[0]), wrap["weight"](leaves[1]),
                                    leaves[2], stride=2, padding=1)
        out.backward(wrap["gradient"](grad))
        results.append([out.detach()] + [leaf.grad for leaf in leaves])
    for expected, actual in zip(*results):
        _close(actual, expected)


@pytest.mark.parametrize("name", ["conv2d", "conv_transpose2d"])
def test_negated_loss_gradient(name):
    """loss = (-y).sum() and y * neg_view(-1): negated losses. (torch hands backward a
    computed gradient here, not a neg-bit view; the neg-bit gradient is the test above.)"""
    x, w, b = _problem(name)
    for loss_of in (lambda y: (-y).sum(), lambda y: (y * neg_view(-torch.ones_like(y))).sum()):
        grads = []
        for module in (F, fastconv):
            leaves = [t.clone().requires_grad_() for t in (x, w, b)]
            loss_of(getattr(module, name)(*leaves, stride=2, padding=1)).backward()
            grads.append([leaf.grad for leaf in leaves])
        for expected, actual in zip(*grads):
            _close(actual, expected)


def test_negated_views_in_prepared_conv():
    x, w, b = _problem("conv2d")
    expected = F.conv2d(x, w, b, padding=1)
    conv = fastconv.prepare_conv(neg_view(x), neg_view(w), neg_view(b), padding=1)
    _close(conv(neg_view(x)), expected)
    _close(conv(x), expected)


def test_negated_parameters_and_input_in_modules():
    x, w, b = _problem("conv2d")
    reference = torch.nn.Conv2d(4, 3, (3, 2), padding=1).double()
    module = fastconv.nn.Conv2d(4, 3, (3, 2), padding=1).double()
    with torch.no_grad():
        reference.weight.copy_(w)
        reference.bias.copy_(b)
    module.weight = torch.nn.Parameter(neg_view(w))
    module.bias = torch.nn.Parameter(neg_view(b))
    assert module.weight.is_neg()
    _close(module(neg_view(x)), reference(x))
    module(neg_view(x)).sum().backward()
    reference(x).sum().backward()
    _close(module.weight.grad, reference.weight.grad)
    _close(module.bias.grad, reference.bias.grad)


def test_negated_views_in_unfold_and_fold():
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    _close(fastconv.unfold(neg_view(x), (2, 3), padding=1), F.unfold(x, (2, 3), padding=1))
    columns = torch.randn(2, 12, 12, dtype=torch.float64)
    _close(fastconv.fold(neg_view(columns), (5, 4), 2), F.fold(columns, (5, 4), 2))
    # and the gradients, with negated inputs and a negated incoming gradient
    for function, reference, value, args in ((fastconv.unfold, F.unfold, x, ((2, 3),)),
                                             (fastconv.fold, F.fold, columns, ((5, 4), 2))):
        grads = []
        for apply, wrap in ((reference, lambda t: t), (function, neg_view)):
            leaf = value.clone().requires_grad_()
            out = apply(wrap(leaf), *args)
            out.backward(wrap(torch.ones_like(out) * 2))
            grads.append(leaf.grad)
        _close(grads[1], grads[0])


def test_windows_of_a_negated_view_keep_values_and_aliasing():
    """windows returns a view that keeps the pending negation, as torch's own views do: the
    values are the input's and the memory is the input's."""
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64)
    view = neg_view(x)
    windows = fastconv.windows(view, (2, 3), stride=(2, 1))
    assert windows.is_neg()
    _close(windows, fastconv.windows(x, (2, 3), stride=(2, 1)))
    _close(windows, x.unfold(2, 2, 2).unfold(3, 3, 1))
    assert windows.data_ptr() == view.data_ptr()


def test_efficient_zero_tensor_operands():
    """Zero tensors without memory (autograd makes them) are read as zeros."""
    x, w, b = _problem("conv2d")
    zeros = torch._efficientzerotensor(x.shape, dtype=x.dtype)
    assert zeros._is_zerotensor()
    _close(fastconv.conv2d(zeros, w, b), F.conv2d(torch.zeros_like(x), w, b))
    _close(fastconv.conv2d(x, torch._efficientzerotensor(w.shape, dtype=w.dtype), b),
           F.conv2d(x, torch.zeros_like(w), b))


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_numpy_big_endian_arrays(dtype):
    """numpy arrays in non-native byte order are read by value (converted), not refused as an
    unknown dtype nor read as raw bytes; windows keeps them as views."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    native = np.dtype(dtype).newbyteorder("=")
    expected = fastconv.conv2d(x.astype(native), w.astype(native), b.astype(native), padding=1)
    out = fastconv.conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), padding=1)
    assert out.dtype == native
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(fastconv.unfold(x.astype(dtype), 2),
                                  fastconv.unfold(x.astype(native), 2))
    big = x.astype(dtype)
    windows = fastconv.windows(big, 2)
    assert np.shares_memory(windows, big)
    np.testing.assert_array_equal(windows, fastconv.windows(x.astype(native), 2))


def test_the_core_refuses_unresolved_arrays():
    """Every path into the core goes through _arrays.usable(); a path that forgot it fails
    loudly instead of reading raw memory."""
    from fastconv import _arrays
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(RuntimeError, match="pending negation"):
        _arrays.descriptor(neg_view(x))
    with pytest.raises(RuntimeError, match="byte order"):
        _arrays.descriptor(np.ones((1, 2, 4, 4), ">f4"))
    assert _arrays.descriptor(_arrays.usable(neg_view(x)))[2] == [1, 2, 4, 4]
