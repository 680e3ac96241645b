"""fastconv.conv{1,2,3}d / conv_transpose{1,2,3}d against torch.nn.functional on
CONFIGS_PER_FUNCTION seeded random configurations each (see conftest.random_config): forward
with numpy inputs, forward with torch inputs, and grad_input / grad_weight / grad_bias through
torch autograd. The configurations cover stride (including stride > kernel), dilation, groups
and depthwise, every padding form, output_padding, bias or not, batch 1 and > 1, unbatched
input, odd sizes, float32 and float64, non-contiguous, reversed and channels-last layouts, and
algo='auto' / 'reference' / 'im2col'."""

import collections

import numpy as np
import pytest
import torch

from conftest import (CONFIGS_PER_FUNCTION, CONV_NAMES, NP_DTYPES, TORCH_DTYPES,
                      assert_bounded_close, conv_case, fastconv_function, make_layout_torch,
                      memory_formats, memory_formats_in_layout, random_config,
                      torch_result_layout)

CASES = [(name, index) for name in CONV_NAMES for index in range(CONFIGS_PER_FUNCTION)]
IDS = [f"{name}-{index}" for name, index in CASES]


def _assert_torch_memory_format(out, config, x, w):
    """The result is in the memory format torch chooses for inputs of these layouts."""
    layout = torch_result_layout(config.dims, config.transposed, config.groups, x, w)
    if layout is None:  # torch's result does not show its choice (test_memory_format.py does)
        return
    expected = memory_formats_in_layout(tuple(out.shape), layout)
    assert memory_formats(out) == expected, (f"{config.describe()}: (contiguous, channels-last) "
                                            f"{memory_formats(out)}, torch's {layout}")


@pytest.mark.parametrize("name,index", CASES, ids=IDS)
def test_forward_numpy(name, index):
    case = conv_case(name, index)
    c = case.config
    x, w, b = case.layout_inputs_numpy()
    x_before = x.copy()
    args, kwargs = c.call_args(x, w, b)
    out = fastconv_function(name)(*args, **kwargs)
    assert type(out) is np.ndarray, c.describe()
    assert out.dtype == NP_DTYPES[c.dtype], c.describe()
    assert_bounded_close(out, case.expected(case.out), case.expected(case.out_bound), c.dtype,
                         c.forward_reduction(), c.describe())
    np.testing.assert_array_equal(x, x_before)  # the input is not modified
    _assert_torch_memory_format(out, c, x, w)


@pytest.mark.parametrize("name,index", CASES, ids=IDS)
def test_forward_torch(name, index):
    case = conv_case(name, index)
    c = case.config
    x, w, b = case.layout_inputs_torch()
    args, kwargs = c.call_args(x, w, b)
    out = fastconv_function(name)(*args, **kwargs)
    assert type(out) is torch.Tensor, c.describe()
    assert out.dtype == TORCH_DTYPES[c.dtype], c.describe()
    assert out.device.type == "cpu"
    assert not out.requires_grad
    assert_bounded_close(out, case.expected(case.out), case.expected(case.out_bound), c.dtype,
                         c.forward_reduction(), c.describe())
    _assert_torch_memory_format(out, c, x, w)


@pytest.mark.parametrize("name,index", CASES, ids=IDS)
def test_gradients_torch(name, index):
    case = conv_case(name, index)
    c = case.config
    x, w, b = case.layout_inputs_torch()
    want_x, want_w, want_b = c.requires_grad
    x = x.detach().requires_grad_(want_x)
    w = w.detach().requires_grad_(want_w)
    if b is not None:
        b = b.detach().requires_grad_(want_b)
    args, kwargs = c.call_args(x, w, b)
    out = fastconv_function(name)(*args, **kwargs)
    assert out.requires_grad
    assert out.dtype == TORCH_DTYPES[c.dtype]
    assert_bounded_close(out, case.expected(case.out), case.expected(case.out_bound), c.dtype,
                         c.forward_reduction(), "forward " + c.describe())
    grad_out = make_layout_torch(case.grad_out, c.grad_layout)
    out.backward(case.expected(grad_out))

    out_spatial = case.out.shape[2:]
    if want_x:
        assert x.grad is not None and x.grad.dtype == x.dtype and x.grad.shape == x.shape
        assert_bounded_close(x.grad, case.expected(case.grad_x), case.expected(case.grad_x_bound),
                             c.dtype, c.grad_input_reduction(), "grad_input " + c.describe())
    else:
        assert x.grad is None
    if want_w:
        assert w.grad is not None and w.grad.dtype == w.dtype and w.grad.shape == w.shape
        assert_bounded_close(w.grad, case.grad_w, case.grad_w_bound, c.dtype,
                             c.grad_weight_reduction(out_spatial), "grad_weight " + c.describe())
    else:
        assert w.grad is None
    if b is not None:
        if want_b:
            assert b.grad is not None and b.grad.dtype == b.dtype
            assert_bounded_close(b.grad, case.grad_b, case.grad_b_bound, c.dtype,
                                 c.grad_weight_reduction(out_spatial), "grad_bias " + c.describe())
        else:
            assert b.grad is None


@pytest.mark.parametrize("name", CONV_NAMES)
def test_random_configurations_cover_the_acceptance_list(name):
    """The generator really produces every feature the acceptance list names, for each
    function (guards against a generator change silently dropping coverage)."""
    configs = [random_config(name, i) for i in range(CONFIGS_PER_FUNCTION)]
    assert len(configs) >= 300
    seen = collections.Counter()
    for c in configs:
        seen["stride>kernel"] += any(s > k for s, k in zip(c.stride, c.kernel))
        seen["stride>1"] += any(s > 1 for s in c.stride)
        seen["dilation>1"] += any(d > 1 for d in c.dilation)
        seen["groups>1"] += c.groups > 1 and c.in_channels != c.groups
        seen["depthwise"] += c.groups > 1 and c.in_channels == c.groups
        seen["padding int"] += isinstance(c.padding, int) and c.padding > 0
        seen["padding pairs"] += c.is_pairs and c.pad_begin != c.pad_end
        seen["padding same"] += c.padding == "same"
        seen["padding valid"] += c.padding == "valid"
        seen["output_padding"] += any(c.output_padding)
        seen["output_padding>=stride"] += any(op >= s for op, s in zip(c.output_padding, c.stride))
        seen["bias"] += c.bias
        seen["no bias"] += not c.bias
        seen["batch 1"] += c.batch == 1
        seen["batch>1"] += c.batch > 1
        seen["unbatched"] += c.unbatched
        seen["odd size"] += any(s % 2 for s in c.spatial)
        seen["float32"] += c.dtype == "float32"
        seen["float64"] += c.dtype == "float64"
        for layout in ("channels_last", "sliced", "permuted", "reversed"):
            seen[layout] += c.layout == layout
        seen["weight non-contiguous"] += c.weight_layout not in ("contiguous", "channels_last")
        seen["weight channels_last"] += c.weight_layout == "channels_last"
        seen["bias strided"] += c.bias and c.index % 3 == 0
        seen["reference"] += c.algo == "reference"
        seen["im2col"] += c.algo == "im2col"
        seen["positional"] += c.positional
        seen["keywords"] += not c.positional
    required = ["stride>kernel", "stride>1", "dilation>1", "groups>1", "depthwise",
                "padding int", "padding pairs", "padding same", "padding valid", "bias",
                "no bias", "batch 1", "batch>1", "unbatched", "odd size", "float32", "float64",
                "channels_last", "sliced", "permuted", "reversed", "weight non-contiguous",
                "weight channels_last", "bias strided",
                "reference", "im2col", "positional", "keywords"]
    if name.startswith("conv_transpose"):
        required += ["output_padding", "output_padding>=stride"]
    missing = [key for key in required if seen[key] < 3]
    assert not missing, f"{name}: too few configurations with {missing}: {dict(seen)}"


# Moderately sized problems: large enough for the engines' blocking and threading paths
# (many channels, depthwise with many groups, long rows), forward and all gradients.
LARGER = {
    "conv1d": ((3, 48, 131), (40, 48, 7), dict(stride=3, padding=3)),
    "conv2d": ((2, 32, 19, 23), (48, 8, 3, 3), dict(stride=2, padding=1, dilation=2, groups=4)),
    "conv3d": ((2, 12, 7, 9, 8), (16, 12, 3, 3, 3), dict(padding=1)),
    "conv_transpose1d": ((2, 40, 61), (40, 24, 5), dict(stride=3, padding=2, output_padding=2)),
    "conv_transpose2d": ((2, 32, 11, 9), (32, 24, 4, 4), dict(stride=2, padding=1)),
    "conv_transpose3d": ((1, 16, 5, 6, 4), (16, 12, 3, 3, 3),
                         dict(stride=2, padding=1, output_padding=1)),
}
DEPTHWISE = ((2, 48, 17, 21), (48, 1, 5, 5), dict(stride=2, padding=2, groups=48))


def _check_larger(name, x_shape, w_shape, kwargs, algo, dtype, channels_last):
    dims = int(name[-2])
    transposed = name.startswith("conv_transpose")
    groups = kwargs.get("groups", 1)
    generator = torch.Generator().manual_seed(sum(x_shape) + sum(w_shape))
    torch_dtype = TORCH_DTYPES[dtype]
    x = torch.randn(x_shape, generator=generator).to(torch_dtype)
    w = torch.randn(w_shape, generator=generator).to(torch_dtype)
    out_channels = w_shape[1] * groups if transposed else w_shape[0]
    b = torch.randn(out_channels, generator=generator).to(torch_dtype)
    if channels_last and dims >= 2:
        fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)
    xr, wr, br = (a.detach().clone().requires_grad_() for a in (x, w, b))
    out = fastconv_function(name)(xr, wr, br, **kwargs, algo=algo)
    grad = torch.randn(tuple(out.shape), generator=generator).to(torch_dtype)
    out.backward(grad)

    reference = getattr(torch.nn.functional, name)
    x64, w64, b64 = (a.detach().double().requires_grad_() for a in (x, w, b))
    expected = reference(x64, w64, b64, **kwargs)
    ex, ew, eb = torch.autograd.grad(expected, [x64, w64, b64], grad.double())
    with torch.no_grad():
        bound = reference(x64.abs(), w64.abs(), b64.abs(), **kwargs)
    ax, aw = x64.detach().abs().requires_grad_(), w64.detach().abs().requires_grad_()
    bx = torch.autograd.grad(reference(ax, w64.detach().abs(), None, **kwargs), ax,
                             grad.double().abs())[0]
    bw = torch.autograd.grad(reference(x64.detach().abs(), aw, None, **kwargs), aw,
                             grad.double().abs())[0]
    bb = grad.double().abs().sum(dim=[0] + list(range(2, grad.dim())))
    kernel = int(np.prod(w_shape[2:]))
    cin, cout = x_shape[1], out_channels
    positions = x_shape[0] * max(int(np.prod(x_shape[2:])), int(np.prod(out.shape[2:])))
    what = f"{name} {algo} {dtype} channels_last={channels_last}"
    assert_bounded_close(out, expected, bound, dtype, cin // groups * kernel, "out " + what)
    assert_bounded_close(xr.grad, ex, bx, dtype, cout // groups * kernel, "grad_input " + what)
    assert_bounded_close(wr.grad, ew, bw, dtype, positions, "grad_weight " + what)
    assert_bounded_close(br.grad, eb, bb, dtype, positions, "grad_bias " + what)
    expected_out = reference(x, w, b, **kwargs)
    assert memory_formats(out) == memory_formats(expected_out), what


@pytest.mark.parametrize("name", CONV_NAMES)
@pytest.mark.parametrize("algo", ["auto", "im2col", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_larger_problems(name, algo, dtype):
    x_shape, w_shape, kwargs = LARGER[name]
    for channels_last in (False, True):
        _check_larger(name, x_shape, w_shape, kwargs, algo, dtype, channels_last)


@pytest.mark.parametrize("algo", ["auto", "im2col", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_larger_depthwise(algo, dtype):
    for channels_last in (False, True):
        _check_larger("conv2d", *DEPTHWISE, algo, dtype, channels_last)
