"""Double backward of fastconv's convolutions and unfold / fold (fastconv/_autograd.py: the
derivatives of the forward, backward-data and backward-weights operations are made of each
other), gradgradcheck in float64 over groups, stride, dilation, asymmetric padding, 1-D/2-D/3-D,
and a gradient penalty against torch's own."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv

# (id, function, input shape, weight shape, keyword arguments)
CASES = [
    ("conv1d_stride_dilation", "conv1d", (2, 2, 9), (3, 2, 3), dict(stride=2, dilation=2, padding=1)),
    ("conv2d_groups_asym", "conv2d", (1, 4, 6, 5), (4, 2, 2, 3),
     dict(stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), groups=2)),
    ("conv2d_same", "conv2d", (2, 3, 5, 5), (2, 3, 3, 3), dict(padding="same")),
    ("conv3d_stride", "conv3d", (1, 2, 4, 3, 4), (2, 2, 2, 2, 2), dict(stride=(1, 2, 1), padding=1)),
    ("conv_transpose1d_outpad", "conv_transpose1d", (2, 2, 5), (2, 3, 3),
     dict(stride=2, output_padding=1, padding=1)),
    ("conv_transpose2d_groups", "conv_transpose2d", (1, 4, 4, 3), (4, 1, 3, 2),
     dict(stride=(2, 1), groups=2, dilation=(1, 2))),
    ("conv_transpose2d_outpad_dilated", "conv_transpose2d", (1, 2, 3, 3), (2, 2, 2, 2),
     dict(stride=1, dilation=2, output_padding=1)),
    ("conv_transpose3d", "conv_transpose3d", (1, 2, 2, 3, 2), (2, 2, 2, 1, 2), dict(stride=2)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradgradcheck(case):
    _, name, xs, ws, kwargs = case
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.uniform(-1, 1, xs), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, ws), requires_grad=True)
    out_channels = ws[1] * kwargs.get("groups", 1) if name.startswith("conv_transpose") else ws[0]
    b = torch.tensor(rng.uniform(-1, 1, out_channels), requires_grad=True)
    function = getattr(fastconv, name)
    assert torch.autograd.gradgradcheck(lambda x, w, b: function(x, w, b, **kwargs), (x, w, b))


@pytest.mark.parametrize("name", ["conv2d", "conv_transpose2d"])
def test_gradient_penalty_matches_torch(name):
    """WGAN-GP: d/d(w, x) of |d out / d x|^2, float32 as trained, against torch's own."""
    rng = np.random.default_rng(4)
    x0 = rng.uniform(-1, 1, (2, 3, 8, 7)).astype(np.float32)
    weight_shape = (3, 4, 3, 3) if name == "conv_transpose2d" else (4, 3, 3, 3)
    w0 = rng.uniform(-1, 1, weight_shape).astype(np.float32)
    results = []
    for function in (getattr(fastconv, name), getattr(F, name)):
        x = torch.tensor(x0, requires_grad=True)
        w = torch.tensor(w0, requires_grad=True)
        out = function(x, w, None, 2, 1)  # stride 2, padding 1
        (gx,) = torch.autograd.grad((out ** 2).sum(), x, create_graph=True)
        penalty = ((gx.flatten(1).norm(dim=1) - 1) ** 2).mean()
        penalty.backward()
        results.append((penalty.item(), w.grad.numpy().copy(), x.grad.numpy().copy()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-3, atol=1e-4)


def test_unfold_fold_double_backward():
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.uniform(-1, 1, (1, 2, 5, 4)), requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: fastconv.unfold(x, (2, 3), padding=1, stride=(2, 1)) ** 2, (x,))
    cols = torch.tensor(rng.uniform(-1, 1, (1, 2 * 4, 12)), requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda c: fastconv.fold(c, (4, 5), 2) ** 2, (cols,))


def test_first_order_gradients_unchanged_and_not_tracked():
    x = torch.rand(2, 3, 6, 6, requires_grad=True)
    w = torch.rand(4, 3, 3, 3, requires_grad=True)
    b = torch.rand(4, requires_grad=True)
    fastconv.conv2d(x, w, b, padding=1).sum().backward()
    xr, wr, br = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    F.conv2d(xr, wr, br, padding=1).sum().backward()
    for mine, theirs in ((x, xr), (w, wr), (b, br)):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-4, atol=1e-4)
        assert mine.grad.grad_fn is None
