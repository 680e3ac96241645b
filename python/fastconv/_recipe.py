"""A custom convolution as differentiable torch code (pad + unfold + broadcast + reduce): what
fastconv.custom_conv*d's double backward runs for smooth operations. Correct, not fast: it
holds the unfolded windows (C/groups x kernel times the output), as the recipe users write.

    Recipe(combine_expr, reduce, epilogue_expr, param_names).conv(src, weight, bias, params,
                                                                 pad_value, values)

where params is fastconv._params.conv_params' dict and values the parameters' values.
"""

import sympy

from . import _expr

# What makes an operation non-smooth for double backward (their derivatives are steps).
_KINKS = {sympy.Abs: "abs", sympy.sign: "sign", sympy.Max: "max/relu/clamp",
          sympy.Min: "min/clamp", sympy.Heaviside: "a step", sympy.Piecewise: "a piecewise form"}


def kink(expression):
    """The name of a non-smooth function in `expression`, or None."""
    for function, name in _KINKS.items():
        if expression.atoms(function):
            return name
    return None


# sympy's functions and torch's of one argument.
_UNARY = {sympy.exp: "exp", sympy.log: "log", sympy.tanh: "tanh", sympy.cosh: "cosh",
          sympy.sinh: "sinh", sympy.Abs: "abs", sympy.sign: "sign"}


class _TorchPrinter:
    """Evaluates a sympy expression on torch tensors (symbols bound by `env`)."""

    def __init__(self, env):
        import torch
        self.torch, self.env = torch, env

    def __call__(self, e):
        torch = self.torch
        if e in self.env:
            return self.env[e]
        if e.is_Number:
            return float(e)
        args = [self(a) for a in e.args]
        if isinstance(e, sympy.Add):
            result = args[0]
            for a in args[1:]:
                result = result + a
            return result
        if isinstance(e, sympy.Mul):
            result = args[0]
            for a in args[1:]:
                result = result * a
            return result
        if isinstance(e, sympy.Pow):
            base, exponent = args
            if e.exp == sympy.Rational(1, 2):
                return torch.sqrt(base)
            return base ** exponent
        for function, name in _UNARY.items():
            if isinstance(e, function):
                return getattr(torch, name)(_tensor(torch, args[0]))
        if isinstance(e, (sympy.Max, sympy.Min)):
            pick = torch.maximum if isinstance(e, sympy.Max) else torch.minimum
            result = _tensor(torch, args[0])
            for a in args[1:]:
                result = pick(result, _tensor(torch, a))
            return result
        raise ValueError(f"cannot evaluate the term {e} ({type(e).__name__}) in torch")


def _tensor(torch, value):
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)


class Recipe:
    def __init__(self, combine_expr, reduce, epilogue_expr, param_names):
        self.combine, self.reduce, self.epilogue = combine_expr, reduce, epilogue_expr
        self.param_names = tuple(param_names)

    def conv(self, src, weight, bias, params, pad_value, values):
        import torch
        import torch.nn.functional as F
        dims, groups = params["spatial_dims"], params["groups"]
        pads = []
        for axis in reversed(range(dims)):
            pads += [params["pad_begin"][axis], params["pad_end"][axis]]
        x = F.pad(src, pads, value=pad_value)
        kernel = tuple(weight.shape[2:])
        for axis in range(dims):
            extent = params["dilation"][axis] * (kernel[axis] - 1) + 1
            x = x.unfold(2 + axis, extent, params["stride"][axis])
            x = x[(Ellipsis, slice(None, None, params["dilation"][axis]))]
        # x: (N, C, out..., kernel...)
        n, c = x.shape[:2]
        out_shape = tuple(x.shape[2:2 + dims])
        k = weight.shape[0]
        xg = x.reshape((n, groups, 1, c // groups) + out_shape + kernel)
        wg = weight.reshape((groups, k // groups, c // groups) + (1,) * dims + kernel)[None]
        env = {_expr.param_symbol(name): float(values[name]) for name in self.param_names}
        z = _TorchPrinter({**env, _expr.SYMBOLS["x"]: xg, _expr.SYMBOLS["w"]: wg})(self.combine)
        z = torch.broadcast_to(_tensor(torch, z).to(src.dtype), torch.broadcast_shapes(xg.shape, wg.shape))
        reduced = [3] + [4 + dims + i for i in range(dims)]
        y = torch.logsumexp(z, reduced) if self.reduce == "logsumexp" else z.sum(reduced)
        y = y.reshape((n, k) + out_shape)
        b = torch.zeros(k, dtype=y.dtype) if bias is None else bias
        b = b.reshape((1, k) + (1,) * dims)
        out = _TorchPrinter({**env, _expr.SYMBOLS["y"]: y, _expr.SYMBOLS["b"]: b})(self.epilogue)
        return torch.broadcast_to(_tensor(torch, out).to(src.dtype), y.shape)
