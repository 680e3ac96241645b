"""Custom convolutions: fastconv.custom_conv1d / 2d / 3d and fastconv.custom_op.

    y[n, k, o]   = REDUCE over c, t of combine(x_pad[n, g Cg + c, o * stride + t * dilation], w[k, c, t])
    out[n, k, o] = epilogue(y[n, k, o], b[k])

combine is an expression in x (input value), w (weight value) and the params, or a catalog name
(fastconv.CATALOG); epilogue an expression in y (reduced value), b (bias, 0 without) and the
params (None: y + b); REDUCE is sum, max, min or logsumexp. x_pad reads as pad_value outside
the input. Expressions are parsed by fastconv._expr (no eval).

How an operation runs: a combine equal to a catalog operation's (checked symbolically, e.g.
"-abs(w - x)" is abs_diff_sum) with the same reduce and an epilogue equal to a catalog
epilogue (y + b, max(y + b, 0), exp(-g y) + b, (y + c)**p + b, with g, c, p made of params and
numbers) runs on the precompiled kernels. Anything else is turned into C++ (fastconv._codegen)
and compiled once with the system's compiler (fastconv._compile: cached on disk).

Gradients (torch tensors that require grad): input, weight and bias, through the operation's
derivatives, computed by sympy and compiled with it, or grad={"x": ..., "w": ...} surrogates
(not with logsumexp, whose gradient weighs each term by the combine itself). max and min route
the gradient to the first window position attaining the extreme. At kinks: abs'(0) = 0,
sign' = 0, and the step of max(a, b), min, relu and clamp is 0 where its argument is 0
(relu'(0) = 0, as torch; fastconv._codegen's Heaviside).
Double backward (create_graph=True, e.g. gradient penalties) of smooth operations (sum or
logsumexp reduce, no abs, sign, max, min, relu, clamp, no grad= surrogates) runs through
fastconv._recipe: the gradients rebuilt from differentiable torch code (unfold + broadcast +
reduce), correct but with the recipe's speed and memory; for any other operation
differentiating the gradients raises a RuntimeError saying why.
"""

import functools
import hashlib
import json
import os
import threading

from . import _arrays, _fastconv, _fastpath, _names
from ._params import check_algo, conv_params

__all__ = ["custom_conv1d", "custom_conv2d", "custom_conv3d", "custom_op", "CustomOp", "CATALOG"]

CATALOG = tuple(_fastconv.InnerOp.catalog_names())



@functools.lru_cache(maxsize=None)
def _catalog_forms():
    """{name: (name, reduce, combine, d/dx, d/dw)} of the catalog
    (src/kernels/custom_ops/catalog_ops.hpp), as sympy expressions."""
    from . import _expr
    import sympy
    x, w = _expr.SYMBOLS["x"], _expr.SYMBOLS["w"]
    forms = (
        ("mul_sum", "sum", x * w, w, x),
        ("abs_diff_sum", "sum", -sympy.Abs(x - w), -sympy.sign(x - w), sympy.sign(x - w)),
        ("abs_diff_sum_adder", "sum", -sympy.Abs(x - w), sympy.Min(sympy.Max(w - x, -1), 1),
         x - w),
        ("sq_diff_sum", "sum", (x - w) ** 2, 2 * (x - w), 2 * (w - x)),
        ("add_max", "max", x + w, sympy.Integer(1), sympy.Integer(1)),
        ("sub_min", "min", x - w, sympy.Integer(1), sympy.Integer(-1)),
        ("mul_max", "max", x * w, w, x),
        ("mul_logsumexp", "logsumexp", x * w, w, x),
    )
    assert tuple(f[0] for f in forms) == CATALOG, "the catalog changed: update _catalog_forms"
    return {form[0]: form for form in forms}


def _catalog_epilogue(expression, param_names):
    """(catalog epilogue name, [parameter expressions]) equal to `expression`, or None."""
    from . import _expr
    import sympy
    _Y, _B = _expr.SYMBOLS["y"], _expr.SYMBOLS["b"]
    allowed = {_expr.param_symbol(p) for p in param_names}
    if expression.free_symbols - {_Y, _B} - allowed:
        return None
    forms = [("bias", (), _Y + _B), ("relu", (), sympy.Max(_Y + _B, 0))]
    g, c, p = (sympy.Wild(n, exclude=[_Y, _B]) for n in ("g", "c", "p"))
    for name, wilds, pattern in (("gaussian", (g,), sympy.exp(-g * _Y) + _B),
                                 ("polynomial", (c, p), (_Y + c) ** p + _B)):
        match = expression.match(pattern)
        if match and all(w in match for w in wilds):
            forms.append((name, tuple(match[w] for w in wilds), pattern.xreplace(match)))
    for name, values, form in forms:
        if _expr.equivalent(expression, form):
            return name, values
    return None


class _Compiled:
    """An operation resolved from its expressions: the base InnerOp (catalog or compiled), its
    catalog epilogue (name, parameter expressions) and the parameter names."""

    def __init__(self, combine, reduce, epilogue, param_names, grad):
        from . import _expr
        catalog_forms = _catalog_forms()
        self.param_names = param_names
        self.texts = (combine, reduce, epilogue, grad)
        if reduce not in _expr.REDUCES:
            raise ValueError(f"reduce = {reduce!r}; expected one of "
                             f"{', '.join(map(repr, _expr.REDUCES))}")
        if not isinstance(combine, str):
            raise TypeError(f"combine: expected an expression or a catalog name, got "
                            f"{type(combine).__name__}")
        if combine in catalog_forms:
            _, catalog_reduce, combine_expr, _, _ = catalog_forms[combine]
            if reduce not in ("sum", catalog_reduce):
                raise ValueError(f"combine = {combine!r} is the catalog operation that reduces "
                                 f"with {catalog_reduce}; got reduce = {reduce!r}")
            reduce = catalog_reduce
        else:
            combine_expr = _expr.parse(combine, "combine", param_names)
        self.reduce = reduce
        epilogue_expr = _expr.parse("y + b" if epilogue is None else epilogue, "epilogue",
                                    param_names)
        derivatives = self._grad(grad, combine_expr, param_names)
        if derivatives is None and combine in catalog_forms:
            derivatives = catalog_forms[combine][3:5]  # its own (abs_diff_sum_adder's surrogates)
        catalog = self._catalog_op(combine_expr, derivatives)
        epilogue_match = _catalog_epilogue(epilogue_expr, param_names)
        self.donor = None
        self.catalog, self.source = catalog, None
        if catalog is not None and epilogue_match is not None:
            self.base = _fastconv.InnerOp.catalog(catalog)
            self.epilogue_name, self.epilogue_params = _epilogue_getters(*epilogue_match)
            self.compiled = False
            return
        if derivatives is None:
            derivatives = (_expr.derivative(combine_expr, "x"), _expr.derivative(combine_expr, "w"))
        spec = {"name": combine.replace('"', "'"), "reduce": reduce, "param_names": param_names,
                "combine": combine_expr, "combine_dx": derivatives[0],
                "combine_dw": derivatives[1], "epilogue": None, "epilogue_dy": None,
                "epilogue_db": None, "combine_text": combine, "epilogue_text": epilogue,
                "grad_text": grad}
        if epilogue_match is None:
            spec["epilogue"] = epilogue_expr
            spec["epilogue_dy"] = _expr.derivative(epilogue_expr, "y")
            spec["epilogue_db"] = _expr.derivative(epilogue_expr, "b")
            self.epilogue_name, self.epilogue_params = "op", ()
        else:
            self.epilogue_name, self.epilogue_params = _epilogue_getters(*epilogue_match)
        from . import _codegen, _compile
        try:
            self.source = _codegen.op_source(spec, _compile.SYMBOL)
        except ValueError:  # a derivative with a term the generator does not write: forward only
            spec.update(combine_dx=None, combine_dw=None, epilogue_dy=None, epilogue_db=None)
            self.source = _codegen.op_source(spec, _compile.SYMBOL)
        self.base = _compile.load_op(self.source)
        self.compiled = True

    def _grad(self, grad, combine_expr, param_names):
        """(d/dx, d/dw) of grad=, or None."""
        from . import _expr
        if grad is None:
            return None
        if not isinstance(grad, dict) or not grad or set(grad) - {"x", "w"}:
            raise ValueError("grad must be a dict {'x': expression, 'w': expression}: the "
                             f"derivatives of combine in x and w (either may be left out: "
                             f"combine's own); got {grad!r}")
        if self.reduce == "logsumexp":
            raise ValueError("grad= surrogates are not supported with reduce='logsumexp' (its "
                             "gradient weighs each term by exp(combine - y))")
        return tuple(_expr.parse(grad[v], f"grad[{v!r}]", param_names) if v in grad
                     else _expr.derivative(combine_expr, v) for v in ("x", "w"))

    def _catalog_op(self, combine_expr, derivatives):
        """The catalog operation equal to the combine (and to the surrogates, if any)."""
        from . import _expr
        if combine_expr.free_symbols - {_expr.SYMBOLS["x"], _expr.SYMBOLS["w"]}:
            return None
        for name, reduce, form, dx, dw in _catalog_forms().values():
            if reduce != self.reduce or not _expr.equivalent(combine_expr, form):
                continue
            if derivatives is None:
                return name
            if _expr.equivalent(derivatives[0], dx) and _expr.equivalent(derivatives[1], dw):
                return name
        return None

    def configured(self, pad_value, values):
        """The InnerOp for parameter values `values` (a dict with every parameter name)."""
        epilogue_params = []
        for kind, value in self.epilogue_params:
            if kind == "number":
                epilogue_params.append(value)
            elif kind == "param":
                epilogue_params.append(float(values[value]))
            else:
                from . import _expr
                result = value.xreplace({_expr.param_symbol(n): values[n]
                                         for n in self.param_names})
                try:
                    epilogue_params.append(float(result))
                except TypeError:
                    raise ValueError(f"epilogue: the parameter {value} of its catalog form "
                                     f"{self.epilogue_name} is not a real number "
                                     f"({result})") from None
        op_params = [float(values[n]) for n in self.param_names] if self.compiled else []
        return self.base.configured(float(pad_value), op_params, self.epilogue_name,
                                    epilogue_params)

    def record(self):
        """What a later process needs to rebuild this resolution without sympy (or None when a
        catalog epilogue's parameter is an expression of several params)."""
        if any(kind == "expr" for kind, _ in self.epilogue_params):
            return None
        return {"reduce": self.reduce, "catalog": None if self.compiled else self.catalog,
                "source": self.source, "epilogue_name": self.epilogue_name,
                "epilogue_params": [list(p) for p in self.epilogue_params],
                "param_names": list(self.param_names)}

    @classmethod
    def from_record(cls, record):
        self = cls.__new__(cls)
        self.reduce, self.catalog, self.source = record["reduce"], record["catalog"], record["source"]
        self.param_names = tuple(record["param_names"])
        self.epilogue_name = record["epilogue_name"]
        self.epilogue_params = tuple((kind, value) for kind, value in record["epilogue_params"])
        if any(kind not in ("number", "param") for kind, _ in self.epilogue_params):
            raise ValueError("bad record")
        self.compiled = self.source is not None
        if self.compiled:
            from . import _compile
            self.base = _compile.load_op(self.source)
        else:
            self.base = _fastconv.InnerOp.catalog(self.catalog)
        return self


def _epilogue_getters(name, expressions):
    """(name, ((kind, value), ...)) for a catalog epilogue's parameter expressions: a number,
    one param by name, or an expression of params (evaluated by sympy per configuration)."""
    getters = []
    for expression in expressions:
        if expression.is_Number:
            getters.append(("number", float(expression)))
        elif expression.is_Symbol and expression.name.startswith("param_"):
            getters.append(("param", expression.name[len("param_"):]))
        else:
            getters.append(("expr", expression))
    return name, tuple(getters)


def _record_path(combine, reduce, epilogue, param_names, grad):
    from . import _compile
    text = json.dumps([combine, reduce, epilogue, list(param_names),
                       sorted(grad.items()) if isinstance(grad, dict) else grad,
                       _fastconv.__version__], sort_keys=True)
    return _compile.cache_dir() / f"resolved-{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _read_record(path):
    try:
        return _Compiled.from_record(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, unreadable or corrupted: resolve again


def _write_record(path, compiled):
    record = compiled.record()
    if record is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only cache: resolved again next time


_compiled_cache = {}
_compiled_lock = threading.Lock()


def _compiled(combine, reduce, epilogue, param_names, grad):
    grad_key = None if not isinstance(grad, dict) else tuple(sorted(grad.items()))
    key = (combine, reduce, epilogue, param_names, grad_key if grad is not None else None)
    try:
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _compiled_cache:
        return _compiled_cache[key]
    try:
        path = _record_path(combine, reduce, epilogue, param_names, grad)
    except TypeError:  # not JSON-serialisable arguments: resolved below, with their errors
        path = None
    result = _read_record(path) if path is not None else None
    if result is None:
        result = _Compiled(combine, reduce, epilogue, param_names, grad)
        if path is not None:
            _write_record(path, result)
    if key is not None:
        with _compiled_lock:
            _compiled_cache[key] = result
    return result


def _float_param(name, value):
    if isinstance(value, bool):
        raise TypeError(f"params: {name} = {value!r}; expected a real number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"params: {name} = {value!r}; expected a real number") from None


def _needs_autograd(*arrays):
    if not _arrays.is_torch(arrays[0]):
        return False
    import torch
    return torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in arrays)


def _d(array):
    return _arrays.descriptor(array)


def run_forward(op, src, weight, bias, params, algo, channels_last, dst=None):
    src, weight, bias = (_arrays.usable(a) if a is not None else None for a in (src, weight, bias))
    shape = _fastconv.output_shape("forward", [int(v) for v in src.shape],
                                   [int(v) for v in weight.shape], params)
    if dst is None:
        dst = _arrays.empty_like_layout(src, shape, channels_last)
    elif list(dst.shape) != list(shape):
        raise ValueError(f"out has shape {tuple(dst.shape)}; expected {tuple(shape)}")
    _fastconv.run_conv("forward", {"src": _d(src), "weight": _d(weight), "bias": _d(bias),
                                   "dst": _d(dst)}, params, algo, op)
    return dst


def run_backward(op, src, weight, bias, grad_out, params, algo, channels_last, needs):
    """(grad_src, grad_weight, grad_bias) for the flags `needs`."""
    src, weight, grad_out = _arrays.usable(src), _arrays.usable(weight), _arrays.usable(grad_out)
    bias = _arrays.usable(bias) if bias is not None else None
    grad_src = grad_weight = grad_bias = None
    if needs[0]:
        grad_src = _arrays.empty_like_layout(src, src.shape, channels_last)
        _fastconv.run_conv("backward_data", {"diff_dst": _d(grad_out), "weight": _d(weight),
                                             "src": _d(src), "bias": _d(bias),
                                             "diff_src": _d(grad_src)}, params, algo, op)
    if needs[1] or needs[2]:
        grad_weight = _arrays.empty_like_layout(src, weight.shape, channels_last)
        if needs[2] and bias is not None:
            grad_bias = _arrays.empty_like_layout(src, bias.shape)
        _fastconv.run_conv("backward_weights", {"src": _d(src), "diff_dst": _d(grad_out),
                                                "weight": _d(weight), "bias": _d(bias),
                                                "diff_weight": _d(grad_weight),
                                                "diff_bias": _d(grad_bias)}, params, algo, op)
        if not needs[1]:
            grad_weight = None
    return grad_src, grad_weight, grad_bias


def _autograd_function():
    import torch

    class CustomConvFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, src, weight, bias, op, params, algo, custom, values):
            ctx.save_for_backward(src, weight, bias)
            ctx.op, ctx.params, ctx.algo = op, params, algo
            ctx.custom, ctx.values = custom, values
            ctx.channels_last = _arrays.conv_result_channels_last(src, weight, False)
            return run_forward(op, src.detach(), weight.detach(),
                               None if bias is None else bias.detach(), params, algo,
                               ctx.channels_last)

        @staticmethod
        def backward(ctx, grad_out):
            src, weight, bias = ctx.saved_tensors
            needs = ctx.needs_input_grad[:3]
            tensors = (src, weight, bias, grad_out)
            differentiable = torch.is_grad_enabled() and any(
                t is not None and t.requires_grad for t in tensors)
            recipe = ctx.custom.double_backward_recipe() if differentiable else None
            if differentiable and not isinstance(recipe, str):  # create_graph: torch's recipe
                inputs = [t for t, need in zip((src, weight, bias), needs) if need]
                with torch.enable_grad():
                    out = recipe.conv(src, weight, bias, ctx.params, ctx.custom.pad_value,
                                      ctx.values)
                    grads = iter(torch.autograd.grad(out, inputs, grad_out, create_graph=True,
                                                     allow_unused=True))
                result = [next(grads) if need else None for need in needs]
                return tuple(result) + (None,) * 5
            with torch.no_grad():
                grads = run_backward(ctx.op, src.detach(), weight.detach(),
                                     None if bias is None else bias.detach(), grad_out.detach(),
                                     ctx.params, ctx.algo, ctx.channels_last, needs)
            if differentiable:  # gradients that raise when differentiated, saying why
                error = torch._C._functions.DelayedError(
                    f"fastconv custom convolution: double backward is not available: "
                    f"{recipe}".encode(), 3)
                faked = []
                for g in grads:
                    if g is not None:
                        g = g.detach()
                        g.requires_grad = True
                    faked.append(g)
                grads = error(*faked)
            return tuple(grads) + (None,) * 5

    return CustomConvFunction


_function_holder = []


def _apply(*args):
    if not _function_holder:
        _function_holder.append(_autograd_function())
    return _function_holder[0].apply(*args)


class CustomOp:
    """A custom convolution resolved once (parsed, matched to the catalog or compiled): call
    .conv1d / .conv2d / .conv3d with the arguments of fastconv.conv*d. params= in those calls
    overrides parameter values (same names)."""

    def __init__(self, combine="x * w", reduce="sum", epilogue=None, pad_value=0.0, params=None,
                 grad=None):
        names = _names.check_param_names(params)
        try:
            if isinstance(pad_value, (str, bytes)):  # (float() would parse "0")
                raise TypeError
            self.pad_value = float(pad_value)
        except (TypeError, ValueError):
            raise TypeError(f"pad_value must be a float, got {pad_value!r}") from None
        self.combine, self.epilogue, self.grad = combine, epilogue, grad
        self.params = {n: _float_param(n, params[n]) for n in names}
        self._compiled = _compiled(combine, reduce, epilogue, names, grad)
        self.reduce = self._compiled.reduce
        self._default_op = self._compiled.configured(self.pad_value, self.params)
        self._bound = {}  # call signature -> a remembered call with _default_op

    @property
    def compiled(self):
        """True when the operation runs on generated code (False: the precompiled catalog)."""
        return self._compiled.compiled

    @property
    def description(self):
        return self._default_op.description

    def __repr__(self):
        return (f"CustomOp(combine={self.combine!r}, reduce={self.reduce!r}, "
                f"epilogue={self.epilogue!r}, pad_value={self.pad_value!r}, "
                f"params={self.params!r}, grad={self.grad!r})")

    def values(self, params=None):
        """The parameter values of a call (params= overrides the op's own)."""
        values = dict(self.params)
        values.update({n: _float_param(n, v) for n, v in (params or {}).items()})
        return values

    def double_backward_recipe(self):
        """The differentiable torch recipe of this operation (fastconv._recipe.Recipe), or a
        string saying why its gradients cannot be differentiated."""
        if not hasattr(self, "_recipe"):
            self._recipe = self._make_recipe()
        return self._recipe

    def _make_recipe(self):
        from . import _expr, _recipe
        if self.reduce in ("max", "min"):
            return (f"reduce={self.reduce!r} routes the gradient to one window position (its "
                    "derivative is a step)")
        if self.grad is not None:
            return "grad= surrogate derivatives have no derivatives of their own"
        names = tuple(self.params)
        forms = _catalog_forms()
        if self.combine in forms:  # (abs_diff_sum_adder's surrogates: its abs is a kink)
            combine = forms[self.combine][2]
        else:
            combine = _expr.parse(self.combine, "combine", names)
        epilogue = _expr.parse("y + b" if self.epilogue is None else self.epilogue, "epilogue",
                               names)
        for what, expression in (("combine", combine), ("epilogue", epilogue)):
            kink = _recipe.kink(expression)
            if kink is not None:
                return (f"the {what} {expression} is not smooth (it has {kink}, whose "
                        "derivative is a step)")
        return _recipe.Recipe(combine, self.reduce, epilogue, names)

    def inner_op(self, params=None):
        """The InnerOp run for these parameter values (None: the op's own)."""
        if not params:
            return self._default_op
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of name -> float, got {type(params).__name__}")
        values = dict(self.params)
        for name, value in params.items():
            if name not in values:
                raise ValueError(f"params: {name!r} is not a parameter of this operation (its "
                                 f"parameters: {list(self.params)}; names are fixed when the "
                                 "operation is made)")
            values[name] = _float_param(name, value)
        return self._compiled.configured(self.pad_value, values)

    def _conv(self, dims, function, input, weight, bias, stride, padding, dilation, groups,
              algo, out, params):
        key = None
        if out is None and not params:  # the fast path of repeated calls (_fastpath.py)
            key, result = _fastpath.lookup(self._bound, function, input, weight, bias,
                                           (stride, padding, dilation, groups, algo))
            if result is not None:
                return result
        from .functional import _batched, _check_weight, _out_view
        _arrays.check_same_kind([("input", input), ("weight", weight), ("bias", bias)],
                                optional=("bias",))
        check_algo(algo, function)
        src, unbatched = _batched(input, dims, "input", function)
        _check_weight(weight, dims, function)
        conv = conv_params(dims, src.shape[2:], weight.shape[2:], stride, padding, dilation,
                           groups)
        op = self.inner_op(params)
        if _needs_autograd(src, weight, bias):
            if out is not None:
                raise RuntimeError(f"{function}: out= does not support automatic "
                                   "differentiation (an argument requires grad)")
            result = _apply(src, weight, bias, op, conv, algo, self, self.values(params))
        else:
            dst = _out_view(out, input, function, unbatched, ())
            channels_last = _arrays.conv_result_channels_last(src, weight, False)
            result = run_forward(op, src, weight, bias, conv, algo, channels_last, dst)
            if out is not None:
                return out
            if key is not None:
                _fastpath.bind(self._bound, key, "forward", src, weight, bias, result, conv, algo,
                               channels_last, unbatched, op)
        return result[0] if unbatched else result

    def conv1d(self, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
               algo="auto", out=None, params=None):
        return self._conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups,
                          algo, out, params)

    def conv2d(self, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
               algo="auto", out=None, params=None):
        return self._conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups,
                          algo, out, params)

    def conv3d(self, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
               algo="auto", out=None, params=None):
        return self._conv(3, "conv3d", input, weight, bias, stride, padding, dilation, groups,
                          algo, out, params)


def custom_op(combine="x * w", reduce="sum", epilogue=None, pad_value=0.0, params=None,
              grad=None):
    """A reusable CustomOp (see the module docstring)."""
    return CustomOp(combine=combine, reduce=reduce, epilogue=epilogue, pad_value=pad_value,
                    params=params, grad=grad)


_ops = {}  # the custom_conv*d calls' operations by their arguments (typed), at most _OPS_LIMIT
_OPS_LIMIT = 64


def _typed(value):
    """A hashable key of a custom_conv argument that tells 1, 1.0 and True apart."""
    if isinstance(value, dict):
        return tuple(sorted((k, type(v), v) for k, v in value.items()))
    return (type(value), value)


def _custom(dims, function, input, weight, bias, stride, padding, dilation, groups, combine,
            reduce, epilogue, pad_value, params, grad, algo, out):
    try:
        key = (_typed(combine), _typed(reduce), _typed(epilogue), _typed(pad_value),
               None if params is None else _typed(params), None if grad is None else _typed(grad))
        op = _ops.get(key)
    except TypeError:  # unhashable: CustomOp says what is wrong
        key = op = None
    if op is None:
        op = CustomOp(combine, reduce, epilogue, pad_value, params, grad)
        if key is not None:
            if len(_ops) >= _OPS_LIMIT:
                _ops.clear()
            _ops[key] = op
    return op._conv(dims, function, input, weight, bias, stride, padding, dilation, groups,
                    algo, out, None)


def custom_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                  combine="x * w", reduce="sum", epilogue=None, pad_value=0.0, params=None,
                  grad=None, algo="auto", out=None):
    return _custom(1, "custom_conv1d", input, weight, bias, stride, padding, dilation, groups,
                   combine, reduce, epilogue, pad_value, params, grad, algo, out)


def custom_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                  combine="x * w", reduce="sum", epilogue=None, pad_value=0.0, params=None,
                  grad=None, algo="auto", out=None):
    return _custom(2, "custom_conv2d", input, weight, bias, stride, padding, dilation, groups,
                   combine, reduce, epilogue, pad_value, params, grad, algo, out)


def custom_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                  combine="x * w", reduce="sum", epilogue=None, pad_value=0.0, params=None,
                  grad=None, algo="auto", out=None):
    return _custom(3, "custom_conv3d", input, weight, bias, stride, padding, dilation, groups,
                   combine, reduce, epilogue, pad_value, params, grad, algo, out)
