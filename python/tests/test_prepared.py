"""fastconv.prepare_conv: planned once, weights packed, run many times — equal to F.conv*d and
to fastconv's one-call functions, on every engine that takes the problem."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

# (input shape, weight shape, stride, padding, dilation, groups)
CASES = [
    ((2, 4, 19), (8, 4, 3), 2, 1, 1, 1),
    ((1, 3, 33, 31), (16, 3, 3, 3), 1, 1, 1, 1),            # few channels
    ((1, 32, 12, 11), (32, 1, 3, 3), 1, 1, 1, 32),          # depthwise
    ((2, 16, 9, 10), (32, 16, 1, 1), 1, 0, 1, 1),           # pointwise
    ((1, 64, 9, 9), (64, 64, 3, 3), 1, 1, 1, 1),            # deep channels
    ((1, 8, 13, 14), (16, 4, 3, 3), (2, 1), (0, 2), 2, 2),  # groups, stride, dilation
    ((1, 4, 5, 7, 6), (8, 4, 3, 3, 3), 1, 1, 1, 1),         # 3-D
]


def integer_tensor(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).integers(-3, 4, shape).astype(np.float32))


@pytest.mark.parametrize("algo", fastconv.ENGINES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_prepared_matches_torch(case, algo):
    input_shape, weight_shape, stride, padding, dilation, groups = CASES[case]
    x, w = integer_tensor(input_shape, 1), integer_tensor(weight_shape, 2)
    b = integer_tensor(weight_shape[:1], 3)
    expected = TORCH_CONV[len(input_shape) - 2](x, w, b, stride, padding, dilation, groups)
    try:
        conv = fastconv.prepare_conv(x, w, b, stride, padding, dilation, groups, algo=algo)
    except ValueError as error:  # an engine that does not take the problem says so
        assert "declines" in str(error)
        return
    assert conv.engine != "auto" and conv.flop_count > 0 and conv.workspace_bytes >= 0
    assert conv.engine in conv.description
    for _ in range(2):  # runs repeat exactly
        torch.testing.assert_close(conv(x), expected, rtol=0, atol=0)
    # Weights were copied at preparation: changing them later does not change the result.
    w.add_(1)
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=0)
    # Another input of the same shape, channels-last: same layout out, same values as torch.
    if x.ndim == 4:
        x2 = integer_tensor(input_shape, 4).contiguous(memory_format=torch.channels_last)
        out = conv(x2)
        torch.testing.assert_close(out, TORCH_CONV[2](x2, w - 1, b, stride, padding, dilation,
                                                      groups), rtol=0, atol=0)


def test_prepared_numpy_and_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 10, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    conv = fastconv.prepare_conv(x, w, None, padding=1, groups=2)
    out = conv(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 1, 1, 1, 2).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_prepared_rejects_other_inputs():
    x, w = torch.zeros(1, 4, 8, 8), torch.zeros(8, 4, 3, 3)
    conv = fastconv.prepare_conv(x, w)
    with pytest.raises(ValueError, match=r"shape \(1, 4, 8, 9\).*prepared for \(1, 4, 8, 8\)"):
        conv(torch.zeros(1, 4, 8, 9))
    with pytest.raises(TypeError, match="float64"):
        conv(torch.zeros(1, 4, 8, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="ndarray.*prepared for torch"):
        conv(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="in_channels"):
        fastconv.prepare_conv(x, torch.zeros(8, 4, 3))
    with pytest.raises(ValueError, match="weight"):
        fastconv.prepare_conv(x, torch.zeros(8, 3, 3, 3))
