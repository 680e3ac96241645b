"""The expression language of fastconv.custom_conv*d, parsed by hand (no eval of user text) into
sympy expressions, differentiated symbolically and matched against the C++ catalog.

Grammar (usual precedence; ** binds tighter than unary minus and is right-associative, as in
Python: -x**2 = -(x**2), 2**3**2 = 2**9):
    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := ('-' | '+') unary | power
    power := atom ('**' unary)?
    atom  := number | name | function '(' expr (',' expr)* ')' | '(' expr ')'
Names: the expression's variables (x and w in combine, y and b in an epilogue) and the params.
Functions: abs exp log sqrt tanh sigmoid relu sign (one argument), min max (two), clamp
(v, lo, hi).
"""

import re

import sympy

from ._names import FUNCTIONS, REDUCES, RESERVED, VARIABLES, check_param_names  # noqa: F401

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/(),]))")

# One sympy symbol per variable, real so that |x|' = sign(x) and max(a, b)' = Heaviside(a - b).
SYMBOLS = {name: sympy.Symbol(name, real=True) for name in ("x", "w", "y", "b")}


def param_symbol(name):
    """The symbol of a parameter (a prefix keeps it apart from the variables' symbols)."""
    return sympy.Symbol("param_" + name, real=True)


def _error(what, text, position, message):
    caret = " " * position + "^"
    return ValueError(f"{what}: {message} at position {position}:\n    {text}\n    {caret}")


def _tokenize(text, what):
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(what, text, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup
        start = match.start(kind)
        tokens.append((kind, match.group(kind), start))
        position = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


def _sigmoid(v):
    return 1 / (1 + sympy.exp(-v))


_BUILDERS = {
    "abs": sympy.Abs, "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt,
    "tanh": sympy.tanh, "sigmoid": _sigmoid, "relu": lambda v: sympy.Max(v, 0),
    "sign": sympy.sign, "min": sympy.Min, "max": sympy.Max,
    "clamp": lambda v, lo, hi: sympy.Min(sympy.Max(v, lo), hi),
}


class _Parser:
    def __init__(self, text, what, names):
        self.text, self.what, self.names = text, what, names
        self.tokens = _tokenize(text, what)
        self.index = 0

    def peek(self):
        return self.tokens[self.index]

    def take(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token, message=None):
        kind, value, position = token
        if message is None:
            message = "unexpected end of expression" if kind == "end" else \
                f"unexpected token {value!r}"
        return _error(self.what, self.text, position, message)

    def expect(self, value):
        token = self.take()
        if token[1] != value or token[0] not in ("op",):
            raise self.fail(token, f"expected {value!r}" + (
                "" if token[0] == "end" else f", got {token[1]!r}"))

    def parse(self):
        if self.peek()[0] == "end":
            raise self.fail(self.peek(), "empty expression")
        value = self.expr()
        if self.peek()[0] != "end":
            raise self.fail(self.peek())
        return value

    def expr(self):
        value = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            right = self.term()
            value = value + right if op == "+" else value - right
        return value

    def term(self):
        value = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()[1]
            right = self.unary()
            value = value * right if op == "*" else value / right
        return value

    def unary(self):
        token = self.peek()
        if token[0] == "op" and token[1] in ("-", "+"):
            self.take()
            value = self.unary()
            return -value if token[1] == "-" else value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == ("op", "**", self.peek()[2]):
            self.take()
            return base ** self.unary()
        return base

    def atom(self):
        token = self.take()
        kind, value, position = token
        if kind == "number":
            number = sympy.Rational(value) if re.fullmatch(r"\d+", value) else \
                sympy.Float(value, 17)
            return sympy.Integer(number) if isinstance(number, sympy.Integer) else number
        if kind == "op" and value == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if kind == "name":
            if value in FUNCTIONS:
                if self.peek()[1] != "(":
                    raise self.fail(self.peek(), f"expected '(' after function {value!r}")
                self.take()
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                self.expect(")")
                if len(args) != FUNCTIONS[value]:
                    raise _error(self.what, self.text, position,
                                 f"{value}() takes {FUNCTIONS[value]} argument"
                                 f"{'s' if FUNCTIONS[value] > 1 else ''}, got {len(args)}")
                return _BUILDERS[value](*args)
            if value in self.names:
                return self.names[value]
            allowed = ", ".join(sorted(self.names))
            raise self.fail(token, f"unknown name {value!r} (this expression may use: "
                                   f"{allowed}; functions: {', '.join(FUNCTIONS)})")
        raise self.fail(token)


def parse(text, what, param_names):
    """The sympy expression of `text`. what: 'combine', 'epilogue', or 'grad' (x / w); it also
    names the argument in errors (e.g. "grad['x']")."""
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected an expression string, got {type(text).__name__}")
    kind = "grad" if what.startswith("grad") else what
    names = {v: SYMBOLS[v] for v in VARIABLES[kind]}
    names.update({p: param_symbol(p) for p in param_names})
    return _Parser(text, what, names).parse()


def derivative(expression, variable):
    """d expression / d variable, simplified; DiracDelta (sign's derivative) is taken as 0, as
    almost everywhere."""
    result = sympy.diff(expression, SYMBOLS[variable])
    result = result.replace(lambda e: isinstance(e, sympy.DiracDelta), lambda e: sympy.Integer(0))
    return simplify(result)


def simplify(expression):
    try:
        simpler = sympy.simplify(expression)
    except Exception:  # sympy's simplifier gives up on some forms: keep the expression as is
        return expression
    return simpler if sympy.count_ops(simpler) <= sympy.count_ops(expression) else expression


def equivalent(a, b):
    """Whether two expressions are the same function (sympy's simplification proves it)."""
    difference = sympy.expand(a - b)
    if difference == 0:
        return True
    return sympy.simplify(difference) == 0
