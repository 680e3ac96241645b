"""The names of fastconv's expression language (fastconv._expr), and the check of params'
names: kept apart from the parser so that a process resolving its operations from the disk
cache (fastconv.custom) never imports sympy."""

import re

VARIABLES = {"combine": ("x", "w"), "epilogue": ("y", "b"), "grad": ("x", "w")}
FUNCTIONS = {"abs": 1, "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sigmoid": 1, "relu": 1,
             "sign": 1, "min": 2, "max": 2, "clamp": 3}
RESERVED = frozenset({"x", "w", "y", "b"}) | frozenset(FUNCTIONS)
REDUCES = ("sum", "max", "min", "logsumexp")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


def check_param_names(params):
    """params: a dict of name -> number. Returns the names in the given order."""
    if params is None:
        return ()
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of name -> float, got {type(params).__name__}")
    names = []
    for name, value in params.items():
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise ValueError(f"params: {name!r} is not a valid name (letters, digits and _, "
                             "not starting with a digit)")
        if name in RESERVED:
            raise ValueError(f"params: {name!r} is reserved (variables x w y b and the "
                             "functions cannot be parameter names)")
        if isinstance(value, bool):
            raise TypeError(f"params: {name} = {value!r}; expected a real number")
        try:
            float(value)
        except (TypeError, ValueError):
            raise TypeError(f"params: {name} = {value!r}; expected a real number") from None
        names.append(name)
    return tuple(names)
