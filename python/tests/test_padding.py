"""Padding forms: (begin, end) pairs, 'same' (ONNX SAME_UPPER, any stride) and 'valid', against
explicit F.pad-then-convolve with torch (and, for transposed convolution, a torch transposed
convolution with padding 0 followed by cropping). The oracle itself is checked first against
torch's own symmetric padding."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from conftest import TORCH_CONV, TORCH_CONV_TRANSPOSE, pad_list, torch_reference_conv

# torch warns that its own 'same' with even kernels copies the input; irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

CONV = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}
CONV_T = {1: fastconv.conv_transpose1d, 2: fastconv.conv_transpose2d,
          3: fastconv.conv_transpose3d}


def _rand(generator, shape):
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def _close(actual, expected):
    if isinstance(actual, np.ndarray):
        actual = torch.from_numpy(actual)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


def onnx_same_upper(in_size, kernel, stride, dilation):
    total = max(0, (math.ceil(in_size / stride) - 1) * stride + (kernel - 1) * dilation + 1
                - in_size)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------------------------
# the oracle


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_reference_oracle_matches_torch_symmetric_padding(dims):
    g = torch.Generator().manual_seed(10 + dims)
    for padding, stride, dilation, output_padding in [(1, 1, 1, 0), (2, 2, 1, 1), (1, 3, 2, 1)]:
        x = _rand(g, (2, 2) + (5,) * dims)
        w = _rand(g, (3, 2) + (3,) * dims)
        b = _rand(g, (3,))
        expected = TORCH_CONV[dims](x, w, b, stride, padding, dilation)
        got = torch_reference_conv(dims, False, x, w, b, (stride,) * dims, (dilation,) * dims, 1,
                                   (padding,) * dims, (padding,) * dims)
        _close(got, expected)
        wt = _rand(g, (2, 3) + (3,) * dims)
        expected = TORCH_CONV_TRANSPOSE[dims](x, wt, b, stride, padding, output_padding, 1,
                                              dilation)
        got = torch_reference_conv(dims, True, x, wt, b, (stride,) * dims, (dilation,) * dims, 1,
                                   (padding,) * dims, (padding,) * dims, (output_padding,) * dims)
        _close(got, expected)


# ---------------------------------------------------------------------------------------------
# asymmetric (begin, end) pairs


PAIR_CASES = [
    ((1, 0),), ((0, 2),), ((3, 1),),
    ((1, 0), (0, 1)), ((2, 0), (1, 3)), ((0, 0), (2, 1)),
    ((1, 0), (0, 1), (2, 2)), ((0, 1), (1, 0), (0, 0)),
]


@pytest.mark.parametrize("pairs", PAIR_CASES, ids=str)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_asymmetric_padding_conv(pairs, stride, kind):
    dims = len(pairs)
    g = torch.Generator().manual_seed(hash((pairs, stride)) % 2**31)
    x = _rand(g, (2, 3) + (6, 5, 4)[:dims])
    w = _rand(g, (4, 3) + (3, 2, 2)[:dims])
    b = _rand(g, (4,))
    begin, end = [p[0] for p in pairs], [p[1] for p in pairs]
    expected = TORCH_CONV[dims](F.pad(x, pad_list(begin, end)), w, b, stride)
    args = (x.numpy(), w.numpy(), b.numpy()) if kind == "numpy" else (x, w, b)
    _close(CONV[dims](*args, stride=stride, padding=pairs), expected)
    # list forms are accepted as well
    _close(CONV[dims](*args, stride=stride, padding=[list(p) for p in pairs]), expected)


@pytest.mark.parametrize("pairs", PAIR_CASES, ids=str)
@pytest.mark.parametrize("stride,output_padding", [(1, 0), (2, 0), (2, 1), (3, 2)])
def test_asymmetric_padding_conv_transpose(pairs, stride, output_padding):
    """conv_transpose with (begin, end) = torch conv_transpose with padding 0 (and the same
    output_padding), cropped by begin at the start and end at the end."""
    dims = len(pairs)
    g = torch.Generator().manual_seed(hash((pairs, stride, output_padding, 1)) % 2**31)
    x = _rand(g, (2, 3) + (4, 3, 3)[:dims])
    w = _rand(g, (3, 2) + (4, 3, 4)[:dims])
    b = _rand(g, (2,))
    full = TORCH_CONV_TRANSPOSE[dims](x, w, b, stride, 0, output_padding)
    crop = tuple([slice(None), slice(None)] + [slice(p[0], full.shape[2 + i] - p[1])
                                               for i, p in enumerate(pairs)])
    expected = full[crop]
    _close(CONV_T[dims](x, w, b, stride, pairs, output_padding), expected)
    _close(CONV_T[dims](x.numpy(), w.numpy(), b.numpy(), stride, pairs, output_padding),
           expected)


def test_symmetric_pairs_equal_int_padding():
    g = torch.Generator().manual_seed(5)
    x, w = _rand(g, (1, 2, 7, 6)), _rand(g, (3, 2, 3, 3))
    _close(fastconv.conv2d(x, w, None, 2, ((1, 1), (2, 2))), F.conv2d(x, w, None, 2, (1, 2)))
    _close(fastconv.conv2d(x, w, None, 1, (1,)), F.conv2d(x, w, None, 1, 1))
    _close(fastconv.conv2d(x, w, None, 1, [2, 1]), F.conv2d(x, w, None, 1, (2, 1)))


# ---------------------------------------------------------------------------------------------
# 'same' and 'valid'


SAME_CASES = list(itertools.product([1, 4, 5, 7, 8], [1, 2, 3, 4], [1, 2, 3], [1, 2]))


@pytest.mark.parametrize("in_size,kernel,stride,dilation", SAME_CASES)
def test_same_padding_conv1d_onnx_same_upper(in_size, kernel, stride, dilation):
    g = torch.Generator().manual_seed(in_size * 1000 + kernel * 100 + stride * 10 + dilation)
    x, w, b = _rand(g, (2, 2, in_size)), _rand(g, (3, 2, kernel)), _rand(g, (3,))
    begin, end = onnx_same_upper(in_size, kernel, stride, dilation)
    expected = F.conv1d(F.pad(x, [begin, end]), w, b, stride, 0, dilation)
    out = fastconv.conv1d(x, w, b, stride, "same", dilation)
    assert out.shape[-1] == math.ceil(in_size / stride)
    _close(out, expected)
    if stride == 1:  # torch's own 'same' (stride 1 only)
        _close(out, F.conv1d(x, w, b, 1, "same", dilation))


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_same_padding_conv_nd(dims, stride, kind):
    g = torch.Generator().manual_seed(100 * dims + stride)
    spatial = (7, 6, 5)[:dims]
    kernel = (3, 4, 2)[:dims]
    dilation = (1, 2, 1)[:dims]
    x, w, b = _rand(g, (2, 4) + spatial), _rand(g, (6, 2) + kernel), _rand(g, (6,))
    pads = [onnx_same_upper(i, k, stride, d) for i, k, d in zip(spatial, kernel, dilation)]
    expected = TORCH_CONV[dims](F.pad(x, pad_list([p[0] for p in pads], [p[1] for p in pads])),
                                w, b, stride, 0, dilation, 2)
    args = (x.numpy(), w.numpy(), b.numpy()) if kind == "numpy" else (x, w, b)
    out = CONV[dims](*args, stride, "same", dilation, 2)
    assert tuple(out.shape[2:]) == tuple(math.ceil(s / stride) for s in spatial)
    _close(out, expected)
    if stride == 1:
        _close(out, TORCH_CONV[dims](x, w, b, 1, "same", dilation, 2))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_valid_padding_is_no_padding(dims):
    g = torch.Generator().manual_seed(200 + dims)
    x, w = _rand(g, (1, 2) + (6,) * dims), _rand(g, (2, 2) + (3,) * dims)
    _close(CONV[dims](x, w, None, 2, "valid"), TORCH_CONV[dims](x, w, None, 2, 0))
    _close(CONV[dims](x, w, None, 1, "valid"), TORCH_CONV[dims](x, w, None, 1, "valid"))
    wt = _rand(g, (2, 3) + (3,) * dims)
    _close(CONV_T[dims](x, wt, None, 2, "valid"), TORCH_CONV_TRANSPOSE[dims](x, wt, None, 2, 0))


TRANSPOSED_SAME_CASES = list(itertools.product([1, 3, 4], [1, 2, 3, 4], [1, 2, 3], [1, 2]))


@pytest.mark.parametrize("in_size,kernel,stride,dilation", TRANSPOSED_SAME_CASES)
def test_same_padding_conv_transpose1d(in_size, kernel, stride, dilation):
    """out = in * stride; the full torch transposed result (padding 0) has
    (in - 1) * stride + extent positions: total = extent - stride is cropped SAME_UPPER-style
    (begin = total // 2), or, when negative, zeros (bias only) are appended at the end."""
    g = torch.Generator().manual_seed(7000 + in_size * 1000 + kernel * 100 + stride * 10 + dilation)
    x, w, b = _rand(g, (2, 3, in_size)), _rand(g, (3, 2, kernel)), _rand(g, (2,))
    full = F.conv_transpose1d(x, w, None, stride, 0, 0, 1, dilation)
    total = (kernel - 1) * dilation + 1 - stride
    if total >= 0:
        expected = full[..., total // 2: full.shape[-1] - (total - total // 2)]
    else:
        expected = F.pad(full, [0, -total])
    expected = expected + b[:, None]
    out = fastconv.conv_transpose1d(x, w, b, stride, "same", 0, 1, dilation)
    assert out.shape[-1] == in_size * stride
    _close(out, expected)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_conv_transpose_nd(dims, stride):
    g = torch.Generator().manual_seed(300 * dims + stride)
    spatial = (3, 4, 2)[:dims]
    kernel = (3, 2, 4)[:dims]
    dilation = (1, 2, 1)[:dims]
    x, w, b = _rand(g, (1, 2) + spatial), _rand(g, (2, 3) + kernel), _rand(g, (3,))
    out = CONV_T[dims](x, w, b, stride, "same", 0, 1, dilation)
    assert tuple(out.shape[2:]) == tuple(s * stride for s in spatial)
    begin, end, extra = [], [], []
    for k, d in zip(kernel, dilation):
        total = (k - 1) * d + 1 - stride
        begin.append(max(total, 0) // 2)
        end.append(max(total, 0) - max(total, 0) // 2)
        extra.append(max(-total, 0))
    expected = torch_reference_conv(dims, True, x, w, b, (stride,) * dims, dilation, 1, begin, end,
                                    None, extra)
    _close(out, expected)
    out_np = CONV_T[dims](x.numpy(), w.numpy(), b.numpy(), stride, "same", 0, 1, dilation)
    _close(out_np, expected)


def test_padding_forms_for_unfold():
    g = torch.Generator().manual_seed(400)
    x = _rand(g, (2, 3, 6, 5))
    pairs = ((1, 0), (2, 1))
    expected = F.unfold(F.pad(x, pad_list([1, 2], [0, 1])), (2, 3), 1, 0, (2, 1))
    torch.testing.assert_close(fastconv.unfold(x, (2, 3), 1, pairs, (2, 1)), expected,
                               rtol=0, atol=0)
    pads = [onnx_same_upper(6, 2, 2, 1), onnx_same_upper(5, 3, 1, 1)]
    expected = F.unfold(F.pad(x, pad_list([p[0] for p in pads], [p[1] for p in pads])), (2, 3), 1,
                        0, (2, 1))
    torch.testing.assert_close(fastconv.unfold(x, (2, 3), 1, "same", (2, 1)), expected, rtol=0,
                               atol=0)
    torch.testing.assert_close(fastconv.unfold(x, (2, 3), 1, "valid", (2, 1)),
                               F.unfold(x, (2, 3), 1, 0, (2, 1)), rtol=0, atol=0)


def test_padding_larger_than_kernel_gives_bias_only_border():
    """Padding beyond the kernel extent (allowed by torch) gives output positions that see only
    zeros: they must equal the bias exactly."""
    g = torch.Generator().manual_seed(500)
    x, w, b = _rand(g, (1, 2, 4, 4)), _rand(g, (3, 2, 2, 2)), _rand(g, (3,))
    out = fastconv.conv2d(x, w, b, 1, 3)
    _close(out, F.conv2d(x, w, b, 1, 3))
    torch.testing.assert_close(out[0, :, 0, 0], b, rtol=0, atol=0)
    out = fastconv.conv2d(x, w, b, 1, ((4, 0), (0, 5)))
    _close(out, F.conv2d(F.pad(x, [0, 5, 4, 0]), w, b))
