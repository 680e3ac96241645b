"""Zero input or output channels and empty batches, as torch users meet them
(torch.nn.Conv2d(0, 4, 3), Conv2d(4, 0, 3), detection heads with no boxes).

Every result is an empty sum plus its bias. The reference is torch itself on the equivalent
problem with one more channel per group: a C = 0 convolution is the C = g convolution of an
all-zero image (its extra weights never matter), a K = 0 one the first 0 output channels of a
K = g one. (torch 1.13's own F.conv2d returns (N, 0, out...) for C = 0, whatever the module's
out_channels, and refuses K = 0 and zero-channel transposed convolution; fastconv returns the
definition's shapes and values instead.)
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv

CONVS = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d"]
ZERO_INIT_WARNING = "ignore:Initializing zero-element tensors is a no-op"


def _shapes(name, zero, groups):
    """(input, weight, bias) shapes of a problem with `zero` in ("C", "K", "N") set to 0, and
    of its equivalent with g channels in place of the zero (None for N = 0)."""
    dims = int(name[-2])
    transposed = name.startswith("conv_transpose")
    batch, cin, cout = (0 if zero == "N" else 2), (0 if zero == "C" else 2 * groups), \
        (0 if zero == "K" else 3 * groups)
    spatial, kernel = (6, 5, 4)[:dims], (3, 2, 2)[:dims]

    def weight(cin, cout):
        return ((cin, cout // groups) if transposed else (cout, cin // groups)) + kernel

    shapes = ((batch, cin) + spatial, weight(cin, cout), (cout,))
    equivalent = None
    if zero == "C":
        equivalent = ((batch, groups) + spatial, weight(groups, cout), (cout,))
    elif zero == "K":
        equivalent = ((batch, cin) + spatial, weight(cin, groups), (groups,))
    return shapes, equivalent


def _embed(small, big_shape, zero_fill):
    """`small` (zero along one axis) inside a random (or zero) tensor of big_shape."""
    big = torch.zeros(big_shape, dtype=torch.float64) if zero_fill else \
        torch.randn(big_shape, dtype=torch.float64)
    big[tuple(slice(0, s) for s in small.shape)] = small
    return big


def _torch_reference(name, zero, groups, x, w, b, grad, kwargs):
    """torch's output and gradients (input, weight, bias) for the zero-channel problem, from
    the equivalent one; or directly for an empty batch."""
    function = getattr(F, name)
    _, equivalent = _shapes(name, zero, groups)
    if equivalent is None:  # N = 0: torch handles empty batches itself
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        out = function(*leaves, groups=groups, **kwargs)
        out.backward(grad)
        return [out.detach()] + [leaf.grad for leaf in leaves]
    x_eq = _embed(x, equivalent[0], zero_fill=True).requires_grad_()
    w_eq = _embed(w, equivalent[1], zero_fill=False).requires_grad_()
    b_eq = _embed(b, equivalent[2], zero_fill=False).requires_grad_()
    out = function(x_eq, w_eq, b_eq, groups=groups, **kwargs)
    out = out[:, :b.shape[0]]  # K = 0: the first 0 channels
    out.backward(grad)
    crop = lambda t, like: t[tuple(slice(0, s) for s in like.shape)]  # noqa: E731
    return [out.detach(), crop(x_eq.grad, x), crop(w_eq.grad, w), crop(b_eq.grad, b)]


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("zero", ["C", "K", "N"])
@pytest.mark.parametrize("groups", [1, 2])
def test_forward_and_gradients_match_torch_definition(name, zero, groups):
    (x_shape, w_shape, b_shape), _ = _shapes(name, zero, groups)
    generator = torch.Generator().manual_seed(7)
    x, w, b = (torch.randn(s, generator=generator, dtype=torch.float64)
               for s in (x_shape, w_shape, b_shape))
    kwargs = dict(stride=2, padding=1)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    out = getattr(fastconv, name)(*leaves, groups=groups, **kwargs)
    grad = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    out.backward(grad)
    expected = _torch_reference(name, zero, groups, x, w, b, grad, kwargs)
    actual = [out.detach()] + [leaf.grad for leaf in leaves]
    for what, got, want in zip(("output", "grad_input", "grad_weight", "grad_bias"), actual,
                               expected):
        assert got.shape == want.shape, (what, got.shape, want.shape)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=what)
    if zero == "C":  # the bias over every position
        bias_view = b.reshape((1, -1) + (1,) * (x.dim() - 2))
        torch.testing.assert_close(out.detach(), bias_view.expand(out.shape), rtol=0, atol=0)
    # without autograd and without bias: zeros (K = 0 and N = 0 results are empty anyway)
    no_bias = getattr(fastconv, name)(x, w, None, groups=groups, **kwargs)
    torch.testing.assert_close(no_bias, torch.zeros(out.shape, dtype=torch.float64), rtol=0,
                               atol=0)
    # numpy arrays: the same values
    numpy_out = getattr(fastconv, name)(x.numpy(), w.numpy(), b.numpy(), groups=groups, **kwargs)
    np.testing.assert_allclose(numpy_out, expected[0].numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings(ZERO_INIT_WARNING)
@pytest.mark.parametrize("module_name", ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                                         "ConvTranspose2d", "ConvTranspose3d"])
@pytest.mark.parametrize("channels", [(0, 4), (4, 0)])
@pytest.mark.parametrize("bias", [True, False])
def test_modules(module_name, channels, bias):
    """fastconv.nn.Conv2d(0, 4, 3) on (2, 0, 5, 5) is its bias over (2, 4, 3, 3) (zeros without
    bias); Conv2d(4, 0, 3) gives (2, 0, 3, 3); gradients: the bias gets the sum of the
    incoming gradient, the input zeros."""
    dims = int(module_name[-2])
    module = getattr(fastconv.nn, module_name)(*channels, 3, bias=bias).double()
    if bias:
        with torch.no_grad():
            module.bias.copy_(torch.arange(1.0, channels[1] + 1))  # torch leaves it uninitialised
    x = torch.randn((2, channels[0]) + (5,) * dims, dtype=torch.float64, requires_grad=True)
    out = module(x)
    size = 7 if module_name.startswith("ConvTranspose") else 3
    assert out.shape == (2, channels[1]) + (size,) * dims
    expected = torch.zeros(out.shape, dtype=torch.float64)
    if bias:
        expected += module.bias.detach().reshape((1, -1) + (1,) * dims)
    torch.testing.assert_close(out.detach(), expected, rtol=0, atol=0)
    grad = torch.randn(out.shape, dtype=torch.float64)
    out.backward(grad)
    torch.testing.assert_close(x.grad, torch.zeros_like(x), rtol=0, atol=0)
    assert module.weight.grad.shape == module.weight.shape
    if bias:
        torch.testing.assert_close(module.bias.grad, grad.sum([0] + list(range(2, dims + 2))),
                                   rtol=1e-12, atol=1e-12)


def test_unbatched_and_channels_last_inputs():
    x = torch.randn(0, 6, 5, dtype=torch.float64)
    w = torch.randn(4, 0, 3, 3, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    out = fastconv.conv2d(x, w, b)
    assert out.shape == (4, 4, 3)
    torch.testing.assert_close(out, b.reshape(4, 1, 1).expand(4, 4, 3), rtol=0, atol=0)
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    out = fastconv.conv2d(x, torch.randn(0, 4, 3, 3, dtype=torch.float64))
    assert out.shape == (2, 0, 4, 3)


def test_prepared_conv_with_zero_channels():
    b = torch.arange(1.0, 5.0)
    conv = fastconv.prepare_conv(torch.zeros(2, 0, 6, 6), torch.zeros(4, 0, 3, 3), b, padding=1)
    assert conv.workspace_bytes == 0
    torch.testing.assert_close(conv(torch.zeros(2, 0, 6, 6)),
                               b.reshape(1, 4, 1, 1).expand(2, 4, 6, 6), rtol=0, atol=0)
    conv = fastconv.prepare_conv(torch.randn(2, 3, 6, 6), torch.zeros(0, 3, 3, 3))
    assert conv(torch.randn(2, 3, 6, 6)).shape == (2, 0, 4, 4)


@pytest.mark.parametrize("algo", ["auto", "reference", "im2col"])
def test_unfold_and_fold_of_zero_channels(algo):
    columns = fastconv.unfold(torch.zeros(2, 0, 5, 5), 2, algo=algo)
    assert columns.shape == (2, 0, 16)
    image = fastconv.fold(columns, (5, 5), 2, algo=algo)
    assert image.shape == (2, 0, 5, 5)
    assert fastconv.windows(torch.zeros(2, 0, 5, 5), 2).shape == (2, 0, 4, 4, 2, 2)


@pytest.mark.parametrize("algo", ["auto", "reference", "im2col", "implicit_gemm", "winograd",
                                  "depthwise", "few_channels", "pointwise"])
def test_every_engine_takes_zero_channels(algo):
    """Nothing to multiply: no engine runs, so every engine accepts the problem."""
    b = torch.arange(1.0, 5.0)
    out = fastconv.conv2d(torch.zeros(2, 0, 6, 6), torch.zeros(4, 0, 1, 1), b, algo=algo)
    torch.testing.assert_close(out, b.reshape(1, 4, 1, 1).expand(2, 4, 6, 6), rtol=0, atol=0)
