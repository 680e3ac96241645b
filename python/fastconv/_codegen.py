"""C++ for an inner operation given as sympy expressions: one struct following the protocol of
fastconv/custom.hpp, exported with FASTCONV_CUSTOM_OP_EXPORT (fastconv._compile builds it).

Every function is written over the vector type V (float lanes in the kernels, double in the
scalar forms) with fastconv::vmath: constants through k<V>(value), parameters as p[i].
Heaviside(v) (the derivative of max, min, relu and clamp) is 1 for v > 0 and 0 otherwise, so
relu's derivative at 0 is 0, as in PyTorch.
"""

import sympy

from . import _expr

_UNARY = {sympy.exp: "vm::exp", sympy.log: "vm::log", sympy.Abs: "vm::abs",
          sympy.sign: "vm::sign", sympy.tanh: "vm::tanh"}


class _Printer:
    def __init__(self, param_names):
        self.params = {_expr.param_symbol(name): i for i, name in enumerate(param_names)}
        self.variables = {symbol: name for name, symbol in _expr.SYMBOLS.items()}

    def constant(self, value):
        return f"k<V>({float(value)!r})"

    def __call__(self, e):
        if e in self.params:
            return f"p[{self.params[e]}]"
        if e in self.variables:
            return self.variables[e]
        if e.is_Number:
            if e in (sympy.oo, -sympy.oo, sympy.nan, sympy.zoo):
                raise ValueError(f"the expression has a non-finite constant ({e})")
            return self.constant(e)
        if isinstance(e, sympy.Add):
            return "(" + " + ".join(self(a) for a in e.args) + ")"
        if isinstance(e, sympy.Mul):
            if e.args[0] == -1:
                return "(-" + self(sympy.Mul(*e.args[1:], evaluate=False)) + ")"
            numerator, denominator = [], []
            for factor in e.args:
                if isinstance(factor, sympy.Pow) and factor.exp.is_Number and factor.exp < 0:
                    denominator.append(self(factor.base ** -factor.exp))
                elif factor.is_Rational and not factor.is_Integer and factor.p == 1:
                    denominator.append(self.constant(factor.q))
                else:
                    numerator.append(self(factor))
            text = " * ".join(numerator) if numerator else self.constant(1)
            if denominator:
                text += " / (" + " * ".join(denominator) + ")"
            return "(" + text + ")"
        if isinstance(e, sympy.Pow):
            return self.power(e.base, e.exp)
        for function, name in _UNARY.items():
            if isinstance(e, function):
                return f"{name}({self(e.args[0])})"
        if isinstance(e, (sympy.Max, sympy.Min)):
            name = "vm::max" if isinstance(e, sympy.Max) else "vm::min"
            text = self(e.args[0])
            for arg in e.args[1:]:
                text = f"{name}({text}, {self(arg)})"
            return text
        if isinstance(e, sympy.Heaviside):
            return f"vm::select<V>({self(e.args[0])} > k<V>(0.0), k<V>(1.0), k<V>(0.0))"
        if isinstance(e, sympy.cosh):
            return f"cosh_({self(e.args[0])})"
        if isinstance(e, sympy.sinh):
            return f"sinh_({self(e.args[0])})"
        if isinstance(e, sympy.Piecewise):
            # (value, condition) pairs; the last condition is True
            text = self(e.args[-1][0])
            for value, condition in reversed(e.args[:-1]):
                text = f"vm::select<V>({self.condition(condition)}, {self(value)}, {text})"
            return text
        raise ValueError(f"cannot compile the expression's term {e} ({type(e).__name__})")

    def condition(self, c):
        operators = {sympy.StrictGreaterThan: ">", sympy.StrictLessThan: "<",
                     sympy.GreaterThan: ">=", sympy.LessThan: "<="}
        for kind, op in operators.items():
            if isinstance(c, kind):
                return f"({self(c.lhs)} {op} {self(c.rhs)})"
        raise ValueError(f"cannot compile the condition {c}")

    def power(self, base, exponent):
        b = self(base)
        if exponent.is_Integer:
            n = int(exponent)
            if n == 0:
                return self.constant(1)
            if n == 1:
                return b
            if 0 < abs(n) <= 8:
                product = f"ipow<{abs(n)}>({b})"
                return product if n > 0 else f"(k<V>(1.0) / {product})"
        if exponent == sympy.Rational(1, 2):
            return f"vm::sqrt({b})"
        if exponent == sympy.Rational(-1, 2):
            return f"(k<V>(1.0) / vm::sqrt({b}))"
        return f"vm::exp({self(exponent)} * vm::log({b}))"


def _function(printer, name, arguments, expression):
    """One function of the struct; common subexpressions (sympy.cse) become named temporaries,
    so that each vm::exp or division is written (and inlined into every kernel) once."""
    temporaries, (reduced,) = sympy.cse(expression, symbols=sympy.numbered_symbols("t_"))
    lines = []
    for symbol, value in temporaries:
        lines.append(f"    const V {symbol} = {printer(value)};\n")
        printer.variables[symbol] = str(symbol)
    params = ", ".join(f"[[maybe_unused]] V {a}" for a in arguments)
    return (f"  template <class V> static V {name}({params}, [[maybe_unused]] const V* p) {{\n"
            + "".join(lines) + f"    return {printer(reduced)};\n  }}\n")


# Forward channel tiles of at most this many pixels for a combine dominated by its own arithmetic
# (a transcendental function, a square root or a division in it): it spends its time in that
# arithmetic, not in the loads small tiles repeat, and its kernels then compile ~2x faster.
EXPENSIVE_TILE_PIXELS = 8
_EXPENSIVE = (sympy.exp, sympy.log, sympy.tanh, sympy.cosh, sympy.sinh)


def _expensive(expression):
    if any(expression.atoms(function) for function in _EXPENSIVE):
        return True
    return any(not (power.exp.is_Integer and power.exp > 0) for power in expression.atoms(sympy.Pow))


def op_source(spec, symbol):
    """The C++ source of a compiled operation. spec: a dict with reduce, param_names and sympy
    expressions combine, combine_dx, combine_dw (None without derivatives) and epilogue,
    epilogue_dy, epilogue_db (None for the InnerOp's epilogue)."""
    printer = _Printer(spec["param_names"])
    parts = ["// Generated by fastconv (python/fastconv/_codegen.py) from:\n"]
    for key in ("combine_text", "reduce", "epilogue_text", "grad_text"):
        parts.append(f"//   {key}: {spec.get(key)}\n")
    parts.append('#include "fastconv/custom.hpp"\n\nnamespace {\n\nnamespace vm = fastconv::vmath;\n\n'
                 "template <class V>\n[[gnu::always_inline]] inline V k(double value) {\n"
                 "  return vm::splat<V>(vm::element_t<V>(value));\n}\n"
                 "template <int N, class V>\n[[gnu::always_inline]] inline V ipow(V base) {\n"
                 "  V result = base;\n  for (int i = 1; i < N; ++i) result = result * base;\n"
                 "  return result;\n}\n"
                 "template <class V>\n[[gnu::always_inline]] inline V cosh_(V v) {\n"
                 "  const V e = vm::exp(v);\n  return (e + k<V>(1.0) / e) * k<V>(0.5);\n}\n"
                 "template <class V>\n[[gnu::always_inline]] inline V sinh_(V v) {\n"
                 "  const V e = vm::exp(v);\n  return (e - k<V>(1.0) / e) * k<V>(0.5);\n}\n\n")
    parts.append("struct GeneratedOp {\n")
    parts.append(f'  static constexpr const char* name = "{spec["name"]}";\n')
    parts.append(f"  static constexpr fastconv::Reduce reduce = fastconv::Reduce::{spec['reduce']};\n")
    parts.append(f"  static constexpr int params = {len(spec['param_names'])};\n")
    if _expensive(spec["combine"]):
        parts.append(f"  static constexpr int max_tile_pixels = {EXPENSIVE_TILE_PIXELS};\n")
    parts.append(_function(printer, "combine", ("x", "w"), spec["combine"]))
    if spec["combine_dx"] is not None:
        parts.append(_function(printer, "combine_dx", ("x", "w"), spec["combine_dx"]))
        parts.append(_function(printer, "combine_dw", ("x", "w"), spec["combine_dw"]))
    if spec["epilogue"] is not None:
        parts.append(_function(printer, "epilogue", ("y", "b"), spec["epilogue"]))
        if spec["epilogue_dy"] is not None:
            parts.append(_function(printer, "epilogue_dy", ("y", "b"), spec["epilogue_dy"]))
            parts.append(_function(printer, "epilogue_db", ("y", "b"), spec["epilogue_db"]))
    parts.append("};\n\n}  // namespace\n\n")
    parts.append(f"FASTCONV_CUSTOM_OP_EXPORT({symbol}, GeneratedOp)\n")
    return "".join(parts)
