"""fastconv.custom_conv*d, custom_op and nn.CustomConv*d against a float64 reference built from
torch's Tensor.unfold + broadcasting (independent of fastconv), for every reduce, catalog
operations and epilogues, compiled (non-catalog) expressions, groups / stride / dilation /
asymmetric and 'same' padding, 1-D / 2-D / 3-D, numpy and torch, forward and gradients.

Generated operations are compiled once per session into a session cache directory
(FASTCONV_CACHE_DIR, set below before any compilation); the cache's own behaviour (cold, warm,
corrupted, read-only, concurrent) is tested in test_custom_cache.py.
"""

import atexit
import math
import os
import shutil
import tempfile

_SESSION_CACHE = tempfile.mkdtemp(prefix="fastconv-test-cache-")
os.environ["FASTCONV_CACHE_DIR"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, True)

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv
from conftest import pad_list, resolve_padding

INF = float("inf")


def _reduce(z, reduce, dims):
    if reduce == "sum":
        return z.sum(dim=dims)
    if reduce == "max":
        return z.amax(dim=dims)
    if reduce == "min":
        return z.amin(dim=dims)
    return _logsumexp(z, dims)


def _logsumexp(z, dims):
    for d in sorted(dims, reverse=True):
        z = torch.logsumexp(z, dim=d)
    return z


def reference(x, w, b, stride, padding, dilation, groups, combine, reduce, epilogue, pad_value,
              params, surrogate=None):
    """The custom convolution by unfold + broadcast on torch tensors (differentiable).
    combine(x, w, p) / epilogue(y, b, p) are torch functions; surrogate=(dx, dw) replaces the
    combine's derivatives (straight-through: values of combine, gradients of the surrogates)."""
    dims = x.dim() - 2
    kernel = tuple(w.shape[2:])
    stride = (stride,) * dims if isinstance(stride, int) else tuple(stride)
    dilation = (dilation,) * dims if isinstance(dilation, int) else tuple(dilation)
    begin, end, _ = resolve_padding(padding, dims, tuple(x.shape[2:]), kernel, stride, dilation,
                                    False)
    xp = F.pad(x, pad_list(begin, end), value=pad_value)
    for axis in range(dims):
        extent = dilation[axis] * (kernel[axis] - 1) + 1
        xp = xp.unfold(2 + axis, extent, stride[axis])
        xp = xp[(Ellipsis, slice(None, None, dilation[axis]))]
    # xp: (N, C, out..., k...)
    n, c = xp.shape[:2]
    out_shape = xp.shape[2:2 + dims]
    k_out = w.shape[0]
    xg = xp.reshape((n, groups, 1, c // groups) + tuple(out_shape) + kernel)
    wg = w.reshape((groups, k_out // groups, c // groups) + (1,) * dims + kernel)[None]
    if surrogate is None:
        z = combine(xg, wg, params)
    else:
        z0 = combine(xg.detach(), wg.detach(), params)
        gx = surrogate[0](xg.detach(), wg.detach(), params)
        gw = surrogate[1](xg.detach(), wg.detach(), params)
        z = z0 + gx * (xg - xg.detach()) + gw * (wg - wg.detach())
    reduced_dims = [3] + [4 + dims + i for i in range(dims)]
    y = _reduce(z, reduce, reduced_dims)
    y = y.reshape((n, k_out) + tuple(out_shape))
    bias = torch.zeros(k_out, dtype=y.dtype) if b is None else b
    bias = bias.reshape((1, k_out) + (1,) * dims)
    return (y + bias) if epilogue is None else epilogue(y, bias, params)


# (id, custom_conv keyword arguments, combine, reduce, epilogue, surrogate, smooth, catalog)
OPS = [
    ("mul_sum", dict(combine="mul_sum"), lambda x, w, p: x * w, "sum", None, None, True, True),
    ("adder", dict(combine="-abs(x - w)"), lambda x, w, p: -(x - w).abs(), "sum", None, None,
     False, True),
    ("adder_surrogate", dict(combine="-abs(x - w)", grad={"x": "clamp(w - x, -1, 1)", "w": "x - w"}),
     lambda x, w, p: -(x - w).abs(), "sum", None,
     (lambda x, w, p: (w - x).clamp(-1, 1), lambda x, w, p: x - w), False, True),
    ("sq_diff", dict(combine="(w - x)**2"), lambda x, w, p: (x - w) ** 2, "sum", None, None,
     True, True),
    ("add_max", dict(combine="x + w", reduce="max", pad_value=-INF), lambda x, w, p: x + w, "max",
     None, None, False, True),
    ("sub_min", dict(combine="sub_min", reduce="min", pad_value=INF), lambda x, w, p: x - w, "min",
     None, None, False, True),
    ("mul_max", dict(combine="w*x", reduce="max", pad_value=0.25), lambda x, w, p: x * w, "max",
     None, None, False, True),
    ("mul_logsumexp", dict(combine="x * w", reduce="logsumexp"), lambda x, w, p: x * w,
     "logsumexp", None, None, True, True),
    ("gaussian", dict(combine="(x - w) * (x - w)", epilogue="exp(-gamma * y) + b",
                      params={"gamma": 0.3}),
     lambda x, w, p: (x - w) ** 2, "sum", lambda y, b, p: torch.exp(-p["gamma"] * y) + b, None,
     True, True),
    ("relu", dict(combine="x*w", epilogue="relu(y + b)"), lambda x, w, p: x * w, "sum",
     lambda y, b, p: torch.relu(y + b), None, False, True),
    ("polynomial", dict(combine="x*w", epilogue="(y + c)**2 + b", params={"c": 0.5}),
     lambda x, w, p: x * w, "sum", lambda y, b, p: (y + p["c"]) ** 2 + b, None, True, True),
    # compiled: not in the catalog
    ("scaled_sq_tanh", dict(combine="gamma * (x - w)**2 + 0.5 * x", epilogue="tanh(y / 4) + b * b",
                            params={"gamma": 0.7}),
     lambda x, w, p: p["gamma"] * (x - w) ** 2 + 0.5 * x, "sum",
     lambda y, b, p: torch.tanh(y / 4) + b * b, None, True, False),
    ("sigmoid_max", dict(combine="sigmoid(x) * w - sqrt(w * w + 1)", reduce="max"),
     lambda x, w, p: torch.sigmoid(x) * w - torch.sqrt(w * w + 1), "max", None, None, False,
     False),
    ("abs_min", dict(combine="abs(x) - w / 2", reduce="min", pad_value=INF),
     lambda x, w, p: x.abs() - w / 2, "min", None, None, False, False),
    ("lse_compiled", dict(combine="x * w - 0.5 * exp(x - w)", reduce="logsumexp",
                          epilogue="log(1 + exp(y)) - b"),
     lambda x, w, p: x * w - 0.5 * torch.exp(x - w), "logsumexp",
     lambda y, b, p: torch.log(1 + torch.exp(y)) - b, None, True, False),
    ("tanh_log_sqrt", dict(combine="tanh(x * w) + 0.1 * log(1 + x * x) - sqrt(w * w + 0.5)"),
     lambda x, w, p: torch.tanh(x * w) + 0.1 * torch.log(1 + x * x) - torch.sqrt(w * w + 0.5),
     "sum", None, None, True, False),
]
OP_IDS = [op[0] for op in OPS]

# (id, dims, input shape, weight shape, stride, padding, dilation, groups)
GEOMETRIES = [
    ("2d_groups_asym", 2, (2, 4, 7, 6), (6, 2, 3, 2), (2, 1), ((1, 0), (2, 1)), (1, 2), 2),
    ("1d_same_stride", 1, (2, 3, 9), (4, 3, 3), 2, "same", 1, 1),
    ("3d_pad", 3, (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), 1, 1, 1, 1),
    ("2d_same_dilated", 2, (1, 3, 6, 5), (2, 3, 3, 3), 1, "same", 2, 1),
]
GEOMETRY_IDS = [g[0] for g in GEOMETRIES]


def _data(geometry, seed, with_bias=True):
    _, dims, xs, ws, stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, xs)
    w = rng.uniform(-1.0, 1.0, ws)
    b = rng.uniform(-0.5, 0.5, ws[0]) if with_bias else None
    return x, w, b


def _call(op, geometry, x, w, b, **extra):
    _, dims, _, _, stride, padding, dilation, groups = geometry
    function = getattr(fastconv, f"custom_conv{dims}d")
    return function(x, w, b, stride, padding, dilation, groups, **op[1], **extra)


def _expected(op, geometry, x, w, b):
    _, dims, _, _, stride, padding, dilation, groups = geometry
    t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))
    params = op[1].get("params", {})
    return reference(t(x), t(w), t(b), stride, padding, dilation, groups, op[2], op[3], op[4],
                     op[1].get("pad_value", 0.0), params).numpy()


def _scale(op, geometry):
    _, dims, xs, ws, *_ = geometry
    return math.prod(ws[1:])


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_forward_numpy_float32_and_torch_float64(op, geometry):
    x, w, b = _data(geometry, 1)
    expected = _expected(op, geometry, x, w, b)
    # numpy float32 in, numpy float32 out
    out32 = _call(op, geometry, x.astype(np.float32), w.astype(np.float32), b.astype(np.float32))
    assert isinstance(out32, np.ndarray) and out32.dtype == np.float32
    assert out32.shape == expected.shape
    tolerance = 2e-5 * _scale(op, geometry) * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(out32, expected, rtol=1e-4, atol=tolerance)
    # torch float64 in, torch float64 out
    out64 = _call(op, geometry, torch.tensor(x), torch.tensor(w), torch.tensor(b))
    assert isinstance(out64, torch.Tensor) and out64.dtype == torch.float64
    np.testing.assert_allclose(out64.numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_matches_catalog_or_compiles(op):
    custom = fastconv.custom_op(**op[1])
    assert custom.compiled == (not op[7]), custom.description


@pytest.mark.parametrize("geometry", GEOMETRIES[:2] + GEOMETRIES[2:3], ids=GEOMETRY_IDS[:3])
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_gradients_float64(op, geometry):
    x, w, b = _data(geometry, 2)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = _call(op, geometry, xt, wt, bt)
    grad_out = torch.tensor(np.random.default_rng(3).uniform(-1, 1, tuple(out.shape)))
    out.backward(grad_out)
    xr, wr, br = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    _, dims, _, _, stride, padding, dilation, groups = geometry
    ref = reference(xr, wr, br, stride, padding, dilation, groups, op[2], op[3], op[4],
                    op[1].get("pad_value", 0.0), op[1].get("params", {}), op[5])
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-9)
    ref.backward(grad_out)
    for name, mine, theirs in (("input", xt, xr), ("weight", wt, wr), ("bias", bt, br)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-7, atol=1e-8,
                                   err_msg=f"grad of {name}")


@pytest.mark.parametrize("op", [op for op in OPS if op[6]], ids=[op[0] for op in OPS if op[6]])
def test_gradcheck_smooth_ops(op):
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.uniform(-1, 1, (1, 2, 5, 4)), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, (2, 2, 2, 2)), requires_grad=True)
    b = torch.tensor(rng.uniform(-0.5, 0.5, 2), requires_grad=True)
    function = lambda x, w, b: fastconv.custom_conv2d(x, w, b, 1, ((1, 0), (0, 1)), **op[1])
    assert torch.autograd.gradcheck(function, (x, w, b), eps=1e-6, atol=1e-6)


# (id, dims, input shape, weight shape, stride, padding, dilation, groups) for double backward
DOUBLE_BACKWARD_GEOMETRIES = [
    ("2d_groups_asym", 2, (1, 4, 5, 4), (4, 2, 2, 2), (2, 1), ((1, 0), (0, 1)), (1, 2), 2),
    ("1d_same_dilated", 1, (2, 2, 6), (2, 2, 3), 1, "same", 2, 1),
    ("3d_stride", 3, (1, 2, 3, 4, 3), (2, 2, 2, 2, 1), (1, 2, 1), 1, 1, 1),
]


@pytest.mark.parametrize("geometry", DOUBLE_BACKWARD_GEOMETRIES,
                         ids=[g[0] for g in DOUBLE_BACKWARD_GEOMETRIES])
@pytest.mark.parametrize("op", [op for op in OPS if op[6]], ids=[op[0] for op in OPS if op[6]])
def test_gradgradcheck_smooth_ops(op, geometry):
    """Double backward of smooth operations, gradgradcheck in float64."""
    _, dims, xs, ws, stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.uniform(-1, 1, xs), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, ws), requires_grad=True)
    b = torch.tensor(rng.uniform(-0.5, 0.5, ws[0]), requires_grad=True)
    conv = getattr(fastconv, f"custom_conv{dims}d")
    function = lambda x, w, b: conv(x, w, b, stride, padding, dilation, groups, **op[1])
    assert torch.autograd.gradgradcheck(function, (x, w, b), eps=1e-6, atol=1e-5)


def test_double_backward_gradient_penalty_matches_the_recipe():
    """A WGAN-GP style penalty: d/dw of |d out / d x|^2, against torch through the reference."""
    rng = np.random.default_rng(9)
    x0 = rng.uniform(-1, 1, (2, 3, 6, 5))
    w0 = rng.uniform(-1, 1, (4, 3, 3, 3))
    kwargs = dict(combine="tanh(x * w) + gamma * (x - w)**2", params={"gamma": 0.3})
    results = []
    for mine in (True, False):
        x = torch.tensor(x0, requires_grad=True)
        w = torch.tensor(w0, requires_grad=True)
        if mine:
            out = fastconv.custom_conv2d(x, w, None, 1, 1, **kwargs)
        else:
            out = reference(x, w, None, 1, 1, 1, 1,
                            lambda x, w, p: torch.tanh(x * w) + p["gamma"] * (x - w) ** 2,
                            "sum", None, 0.0, kwargs["params"], None)
        (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        penalty = (gx ** 2).sum()
        penalty.backward()
        results.append((penalty.detach().numpy(), w.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kwargs, reason", [
    (dict(combine="-abs(x - w)"), "abs"),
    (dict(combine="x * w", epilogue="relu(y + b)"), "max/relu/clamp"),
    (dict(combine="x + w", reduce="max"), "reduce='max'"),
    (dict(combine="x * w", grad={"x": "w", "w": "x"}), "surrogate"),
])
def test_double_backward_of_a_non_smooth_op_is_a_clear_error(kwargs, reason):
    x = torch.rand(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    out = fastconv.custom_conv2d(x, w, **kwargs)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # first order: fine
    plain = fastconv.custom_conv2d(x.detach(), w.detach(), **kwargs)
    assert torch.allclose(plain, out)
    with pytest.raises(RuntimeError, match=f"double backward is not available.*{reason}"):
        grad.sum().backward()


def test_unbatched_numpy_and_out():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (3, 8)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 3, 3)).astype(np.float32)
    out = fastconv.custom_conv1d(x, w, combine="-abs(x - w)", padding=1)
    assert out.shape == (2, 8) and out.dtype == np.float32
    batched = fastconv.custom_conv1d(x[None], w, combine="-abs(x - w)", padding=1)
    np.testing.assert_array_equal(out, batched[0])
    target = np.empty((1, 2, 8), np.float32)
    returned = fastconv.custom_conv1d(x[None], w, combine="-abs(x - w)", padding=1, out=target)
    assert returned is target
    np.testing.assert_array_equal(target, batched)


def test_convolution_expression_equals_conv2d():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 9, 9))
    w = rng.standard_normal((3, 4, 3, 3))
    b = rng.standard_normal(3)
    np.testing.assert_allclose(fastconv.custom_conv2d(x, w, b, padding=1),
                               fastconv.conv2d(x, w, b, padding=1), rtol=1e-12, atol=1e-12)


def test_custom_op_object_and_param_override():
    op = fastconv.custom_op(combine="gamma * (x - w)**2 + x", params={"gamma": 2.0})
    assert op.compiled
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (1, 2, 5, 5))
    w = rng.uniform(-1, 1, (2, 2, 3, 3))
    ref = lambda g: reference(torch.tensor(x), torch.tensor(w), None, 1, 0, 1, 1,
                              lambda x, w, p: g * (x - w) ** 2 + x, "sum", None, 0.0, {}).numpy()
    np.testing.assert_allclose(op.conv2d(x, w), ref(2.0), rtol=1e-10)
    np.testing.assert_allclose(op.conv2d(x, w, params={"gamma": -1.5}), ref(-1.5), rtol=1e-10)
    with pytest.raises(ValueError, match="'delta' is not a parameter"):
        op.conv2d(x, w, params={"delta": 1.0})


@pytest.mark.parametrize("kwargs, message", [
    (dict(combine="x * "), r"unexpected end of expression at position 4"),
    (dict(combine="x $ w"), r"unexpected character '\$' at position 2"),
    (dict(combine="x * gama", params={"gamma": 1.0}), r"unknown name 'gama'.*position 4"),
    (dict(combine="max(x)"), r"max\(\) takes 2 arguments, got 1"),
    (dict(combine="(x + w"), r"expected '\)' at position 6"),
    (dict(combine="x w"), r"unexpected token 'w' at position 2"),
    (dict(combine="y * w"), r"unknown name 'y'"),
    (dict(epilogue="x + b"), r"epilogue: unknown name 'x'"),
    (dict(reduce="mean"), r"reduce = 'mean'"),
    (dict(combine="x*w", params={"x": 1.0}), r"'x' is reserved"),
    (dict(combine="x*w", params={"2a": 1.0}), r"not a valid name"),
    (dict(combine="x*w", reduce="logsumexp", grad={"x": "w", "w": "x"}), r"not supported"),
    (dict(combine="x*w", grad={"x": "w", "y": "1"}), r"grad must be a dict"),
    (dict(combine="x*w", grad={"x": "w + "}), r"grad\['x'\]: unexpected end"),
    (dict(combine="add_max", reduce="min"), r"reduces with max"),
])
def test_bad_expressions_and_arguments(kwargs, message):
    x = np.zeros((1, 1, 4, 4))
    w = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match=message):
        fastconv.custom_conv2d(x, w, **kwargs)


def test_bad_param_values():
    x, w = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2))
    with pytest.raises(TypeError, match="expected a real number"):
        fastconv.custom_conv2d(x, w, combine="g * x * w", params={"g": "big"})
    with pytest.raises(TypeError, match="params must be a dict"):
        fastconv.custom_conv2d(x, w, combine="g * x * w", params=[1.0])


def test_nn_custom_conv_module_state_dict_and_repr():
    torch.manual_seed(0)
    layer = fastconv.nn.CustomConv2d(3, 4, 3, padding=1, combine="-abs(x - w)",
                                     grad={"x": "clamp(w - x, -1, 1)", "w": "x - w"})
    reference_layer = torch.nn.Conv2d(3, 4, 3, padding=1)
    assert layer.weight.shape == reference_layer.weight.shape
    reference_layer.load_state_dict(layer.state_dict())
    assert set(layer.state_dict()) == {"weight", "bias"}
    text = repr(layer)
    assert "combine='-abs(x - w)'" in text and "grad=" in text
    x = torch.rand(2, 3, 6, 6)
    out = layer(x)
    expected = reference(x.double(), layer.weight.double(), layer.bias.double(), 1, 1, 1, 1,
                         lambda x, w, p: -(x - w).abs(), "sum", None, 0.0, {})
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    out.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
    for cls, shape in ((fastconv.nn.CustomConv1d, (1, 3, 7)),
                       (fastconv.nn.CustomConv3d, (1, 3, 4, 4, 4))):
        module = cls(3, 2, 3, padding="same", combine="x + w", reduce="max", pad_value=-INF)
        assert module(torch.rand(shape)).shape == (1, 2) + shape[2:]


def test_without_bias_b_reads_zero_and_partial_grad():
    """A compiled epilogue reads b = 0 without a bias; grad= may give one derivative only (the
    other is combine's own)."""
    geometry = GEOMETRIES[0]
    x, w, _ = _data(geometry, 8, with_bias=False)
    op = next(o for o in OPS if o[0] == "scaled_sq_tanh")
    out = _call(op, geometry, x, w, None)
    np.testing.assert_allclose(out, _expected(op, geometry, x, w, None), rtol=1e-9, atol=1e-9)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    _, dims, _, _, stride, padding, dilation, groups = geometry
    fastconv.custom_conv2d(xt, wt, None, stride, padding, dilation, groups, combine="x * w",
                           grad={"x": "2 * w"}).sum().backward()
    xr, wr = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    reference(xr, wr, None, stride, padding, dilation, groups, lambda x, w, p: x * w, "sum", None,
              0.0, {}, (lambda x, w, p: 2 * w, lambda x, w, p: x)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(wt.grad.numpy(), wr.grad.numpy(), rtol=1e-9, atol=1e-9)
