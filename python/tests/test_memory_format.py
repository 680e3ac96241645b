"""Results come in the memory format torch 1.13 gives: channels-last for 2-D convolution when
the input or the weight suggests channels-last (torch's suggest_memory_format: size-1 channel
axes are ambiguous and count as contiguous), for the output and both gradients alike;
contiguous for 1-D, 3-D (channels_last_3d inputs included) and transposed convolution. numpy
arrays follow the same rule. Each case is compared with torch's own result on the same
shapes and layouts."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from conftest import channels_last_numpy, memory_formats

CONVS = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d"]
CHANNEL_CASES = {  # (in_channels, out_channels, groups)
    "plain": (4, 6, 1), "grouped": (4, 6, 2), "depthwise": (4, 8, 4), "one input channel": (1, 6, 1),
    "one output channel": (4, 1, 1)}


def _layout(tensor, channels_last):
    if channels_last and tensor.dim() in (4, 5):
        fmt = torch.channels_last if tensor.dim() == 4 else torch.channels_last_3d
        return tensor.contiguous(memory_format=fmt)
    return tensor


def _operands(name, channels, input_cl, weight_cl, dtype=torch.float64):
    dims = int(name[-2])
    cin, cout, groups = channels
    generator = torch.Generator().manual_seed(3)
    x = torch.randn((2, cin) + (7, 6, 5)[:dims], generator=generator, dtype=dtype)
    shape = (cin, cout // groups) if name.startswith("conv_transpose") else (cout, cin // groups)
    w = torch.randn(shape + (3, 2, 2)[:dims], generator=generator, dtype=dtype)
    return _layout(x, input_cl), _layout(w, weight_cl), groups


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("channels", CHANNEL_CASES.values(), ids=CHANNEL_CASES.keys())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_output_and_gradients_like_torch(name, channels, dtype):
    for input_cl, weight_cl in itertools.product((False, True), repeat=2):
        x, w, groups = _operands(name, channels, input_cl, weight_cl, dtype)
        results = []
        for module in (F, fastconv):
            # non-leaf inputs, so that the hooks see the gradients as the convolution made them
            xl, wl = x.detach().requires_grad_(), w.detach().requires_grad_()
            xi, wi = xl.clone(memory_format=torch.preserve_format), \
                wl.clone(memory_format=torch.preserve_format)
            grads = {}
            xi.register_hook(lambda g: grads.__setitem__("input", memory_formats(g)))
            wi.register_hook(lambda g: grads.__setitem__("weight", memory_formats(g)))
            out = getattr(module, name)(xi, wi, groups=groups, stride=2)
            out.backward(torch.ones_like(out))
            results.append((memory_formats(out), grads["input"], grads["weight"]))
        assert results[1] == results[0], (
            f"input channels_last={input_cl} weight channels_last={weight_cl}: fastconv's "
            f"(output, grad_input, grad_weight) formats {results[1]}, torch's {results[0]}")


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("channels", CHANNEL_CASES.values(), ids=CHANNEL_CASES.keys())
def test_without_autograd_and_numpy_like_torch(name, channels):
    for input_cl, weight_cl in itertools.product((False, True), repeat=2):
        x, w, groups = _operands(name, channels, input_cl, weight_cl)
        expected = memory_formats(getattr(F, name)(x, w, groups=groups))
        assert memory_formats(getattr(fastconv, name)(x, w, groups=groups)) == expected
        xn = channels_last_numpy(x.numpy()) if input_cl else np.ascontiguousarray(x.numpy())
        wn = channels_last_numpy(w.numpy()) if weight_cl else np.ascontiguousarray(w.numpy())
        assert memory_formats(getattr(fastconv, name)(xn, wn, groups=groups)) == expected


def test_module_with_channels_last_weights_on_contiguous_input():
    """The issue's case: torch.nn.Conv2d(...).to(memory_format=torch.channels_last) on a
    contiguous input gives a channels-last output."""
    torch_module = torch.nn.Conv2d(4, 8, 3, padding=1).to(memory_format=torch.channels_last)
    module = fastconv.nn.Conv2d(4, 8, 3, padding=1).to(memory_format=torch.channels_last)
    module.load_state_dict(torch_module.state_dict())
    x = torch.randn(2, 4, 9, 9)
    expected = torch_module(x)
    out = module(x)
    assert expected.is_contiguous(memory_format=torch.channels_last)
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_unbatched_and_prepared_like_torch():
    x = torch.randn(4, 7, 6)
    w = torch.randn(6, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    expected = F.conv2d(x, w)
    assert fastconv.conv2d(x, w).stride() == expected.stride()
    xb = torch.randn(2, 4, 7, 6)
    conv = fastconv.prepare_conv(xb, w)
    assert memory_formats(conv(xb)) == memory_formats(F.conv2d(xb, w))
    x_cl = xb.contiguous(memory_format=torch.channels_last)
    conv = fastconv.prepare_conv(x_cl, w.contiguous())
    assert memory_formats(conv(x_cl)) == memory_formats(F.conv2d(x_cl, w.contiguous()))
    assert memory_formats(conv(xb)) == memory_formats(F.conv2d(xb, w.contiguous()))


@pytest.mark.parametrize("shape,strides", [
    ((2, 3, 4, 5), (60, 1, 15, 3)),      # channels-last
    ((2, 3, 4, 5), (60, 20, 5, 1)),      # contiguous
    ((2, 1, 4, 5), (20, 1, 5, 1)),       # one channel: ambiguous, contiguous wins
    ((2, 1, 4, 5), (20, 20, 5, 1)),
    ((1, 3, 1, 1), (3, 1, 3, 3)),        # one pixel
    ((2, 3, 4, 5), (120, 2, 30, 6)),     # channels-last with gaps
    ((2, 3, 4, 5), (0, 1, 15, 3)),       # broadcast batch
    ((2, 3, 4, 5), (60, 0, 15, 3)),      # broadcast channels
    ((2, 3, 4, 5), (1, 2, 30, 6)),       # permuted
])
def test_suggestion_is_torchs(shape, strides):
    """fastconv's port of torch's suggest_memory_format agrees with torch's."""
    from fastconv import _arrays
    from torch._prims_common import suggest_memory_format
    storage = torch.zeros(1 + sum((n - 1) * s for n, s in zip(shape, strides)))
    tensor = storage.as_strided(shape, strides)
    expected = suggest_memory_format(tensor) == torch.channels_last
    assert _arrays.suggests_channels_last(tensor) == expected
    array = np.lib.stride_tricks.as_strided(storage.numpy(), shape, [s * 4 for s in strides])
    assert _arrays.suggests_channels_last(array) == expected


def test_channels_last_results_allow_in_place_ops_like_torch():
    """A channels-last result is a plain tensor, not a view: autograd forbids in-place changes
    to views made inside a Function, and ResNet's ReLU(inplace=True) after a layer needs them."""
    results = []
    for module in (torch.nn, fastconv.nn):
        torch.manual_seed(0)
        model = torch.nn.Sequential(module.Conv2d(4, 6, 3), torch.nn.ReLU(inplace=True),
                                    module.Conv2d(6, 2, 3)).double()
        model = model.to(memory_format=torch.channels_last)
        x = torch.randn(2, 4, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
        out = model(x)
        out.sum().backward()
        results.append([out.detach(), x.grad] + [p.grad for p in model.parameters()])
    for expected, actual in zip(*results):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
