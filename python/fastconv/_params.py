"""Argument parsing shared by every function: torch-style stride / padding / dilation values
turned into the C++ core's parameter dict.

padding accepts, per torch: an int, a tuple of one int per spatial dim, 'valid' or 'same';
and beyond torch: one (begin, end) pair per spatial dim for asymmetric padding, e.g.
padding=((1, 0), (0, 1)). 'same' follows ONNX SAME_UPPER (odd extra padding at the end) and
works for any stride: out = ceil(in / stride) for convolution, out = in * stride for
transposed convolution.
"""

import operator

from ._fastconv import SizeOverflowError, engines, window_engines

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
ENGINES = tuple(engines())                # what algo= may name for convolution
WINDOW_ENGINES = tuple(window_engines())  # ... and for unfold / fold


def as_int(value, name):
    """An int (or an integer-valued object such as numpy.int64) that fits in 64 bits; TypeError
    or SizeOverflowError (an OverflowError and a ValueError) naming the argument otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise SizeOverflowError(f"{name} = {value} does not fit in 64 bits")
    return value


def check_algo(algo, function, allowed=ENGINES):
    """algo must name one of `allowed`: TypeError for a non-string, ValueError for another
    name, both listing the valid names."""
    names = ", ".join(repr(name) for name in allowed)
    if not isinstance(algo, str):
        raise TypeError(f"{function}: algo must be a str naming an engine, one of {names}; "
                        f"got {type(algo).__name__}")
    if algo not in allowed:
        problem = f"does not apply to {function}" if algo in ENGINES else "is not an engine"
        raise ValueError(f"{function}: algo = {algo!r} {problem}; expected one of {names}")
    return algo


def int_tuple(value, dims, name):
    """An int or a sequence of 1 or `dims` ints -> tuple of `dims` ints."""
    if isinstance(value, (list, tuple)):
        values = [as_int(v, name) for v in value]
        if len(values) == 1:
            values = values * dims
        if len(values) != dims:
            raise ValueError(f"{name} has {len(values)} values {tuple(values)}; expected 1 or {dims}")
        return tuple(values)
    return (as_int(value, name),) * dims


def _same_padding(input_spatial, kernel_spatial, stride, dilation, transposed):
    for name, values in (("input size", input_spatial), ("kernel size", kernel_spatial),
                         ("stride", stride), ("dilation", dilation)):
        if any(v < 1 for v in values):
            raise ValueError(f"padding='same' needs every {name} >= 1, got {tuple(values)}")
    begin, end, output_padding = [], [], []
    for size, kernel, s, d in zip(input_spatial, kernel_spatial, stride, dilation):
        extent = d * (kernel - 1) + 1
        if transposed:  # out = in * stride
            total = extent - s
            extra = max(0, -total)
            total = max(0, total)
        else:  # out = ceil(in / stride)
            out = -(-size // s)
            total = max(0, (out - 1) * s + extent - size)
            extra = 0
        begin.append(total // 2)
        end.append(total - total // 2)
        output_padding.append(extra)
    return begin, end, output_padding


def padding_pairs(padding, dims, input_spatial, kernel_spatial, stride, dilation, transposed=False):
    """Returns (pad_begin, pad_end, same_output_padding or None)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [0] * dims, [0] * dims, None
        if padding == "same":
            return _same_padding(input_spatial, kernel_spatial, stride, dilation, transposed)
        raise ValueError(f"padding = {padding!r}; expected an int, a tuple, 'valid' or 'same'")
    if isinstance(padding, (list, tuple)) and any(isinstance(p, (list, tuple)) for p in padding):
        if len(padding) != dims:
            raise ValueError(f"padding {padding!r} has {len(padding)} entries; expected one "
                             f"(begin, end) pair per spatial dim ({dims})")
        begin, end = [], []
        for pair in padding:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"padding entry {pair!r} is not a (begin, end) pair")
            begin.append(as_int(pair[0], "padding"))
            end.append(as_int(pair[1], "padding"))
        return begin, end, None
    values = list(int_tuple(padding, dims, "padding"))
    return values, list(values), None


def conv_params(dims, input_spatial, kernel_spatial, stride=1, padding=0, dilation=1, groups=1,
                output_padding=0, transposed=False):
    stride = int_tuple(stride, dims, "stride")
    dilation = int_tuple(dilation, dims, "dilation")
    begin, end, same_output_padding = padding_pairs(padding, dims, input_spatial, kernel_spatial,
                                                    stride, dilation, transposed)
    output_padding = list(int_tuple(output_padding, dims, "output_padding"))
    if same_output_padding is not None:
        if any(output_padding):
            raise ValueError("output_padding cannot be combined with padding='same'")
        output_padding = same_output_padding
    return {"spatial_dims": dims, "stride": list(stride), "dilation": list(dilation),
            "pad_begin": begin, "pad_end": end, "output_padding": output_padding,
            "groups": as_int(groups, "groups")}


def without_output_padding(params):
    return dict(params, output_padding=[0] * params["spatial_dims"])
