"""The fast path of repeated calls: a call signature seen before skips the Python checks.

The first call of a signature (array types, dtypes, shapes, strides, the arguments as given)
goes through the checked path; when it needed no conversion (no copy, no resolving, no
autograd) its result layout and a _fastconv.BoundConv (the operands' layouts bound once) are
remembered. Later calls of that signature look it up, allocate the result and pass only the
data addresses; the C++ side takes the plan from its plan cache (fastconv/plan_cache.hpp), so
the thread count and FASTCONV_* settings of the moment apply. What can change between calls
of one signature is checked on every call: autograd (grad mode, requires_grad), torch's lazy
states (negation bit, zero tensors), the device, and numpy data alignment (in C++).
"""

import math

import numpy as np

from . import _arrays, _fastconv

try:
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None

LIMIT = 1024  # signatures remembered; the table is emptied when it is full


def array_signature(array):
    """What of an array a bound call depends on, or None for an array the fast path does not
    take (then the checked path handles the call)."""
    kind = type(array)
    if kind is np.ndarray:
        return (kind, array.dtype, array.shape, array.strides)
    if torch is not None and isinstance(array, torch.Tensor):
        return (kind, array.dtype, array.shape, array.stride())
    return None


def torch_ready(input, weight=None, bias=None, autograd=True):
    """True when every given tensor can be passed by address: on the CPU, no pending
    negation, not an efficient zero tensor, and (autograd=True) no autograd needed."""
    if autograd and torch.is_grad_enabled() and (
            input.requires_grad or (weight is not None and weight.requires_grad) or
            (bias is not None and bias.requires_grad)):
        return False
    if not input.is_cpu or input.is_neg() or input._is_zerotensor():
        return False
    if weight is not None and (not weight.is_cpu or weight.is_neg() or weight._is_zerotensor()):
        return False
    return bias is None or (bias.is_cpu and not bias.is_neg() and not bias._is_zerotensor())


class Result:
    """Allocates a result of one layout, like _arrays.empty_like_layout(template, shape,
    channels_last), without re-deriving the layout each call."""

    __slots__ = ("allocate",)

    def __init__(self, template, shape, channels_last):
        shape = tuple(int(v) for v in shape)
        channels_last = channels_last and len(shape) >= 3
        dtype = template.dtype
        itemsize = template.element_size() if _arrays.is_torch(template) else template.itemsize
        if math.prod(shape) * itemsize >= _arrays.LARGE_RESULT_BYTES:  # huge pages, pooled
            make = _arrays.torch_empty if _arrays.is_torch(template) else _arrays._numpy_empty
            self.allocate = lambda: make(shape, dtype, channels_last)
        elif _arrays.is_torch(template):
            if channels_last:
                strides = _arrays._channels_last_strides(shape)
                self.allocate = lambda: torch.empty_strided(shape, strides, dtype=dtype)
            else:
                self.allocate = lambda: torch.empty(shape, dtype=dtype)
        elif channels_last:
            memory_shape = (shape[0],) + shape[2:] + (shape[1],)
            permutation = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
            self.allocate = lambda: np.empty(memory_shape, dtype=dtype).transpose(permutation)
        else:
            self.allocate = lambda: np.empty(shape, dtype=dtype)


def address(array):
    """What BoundConv.run takes for an array: the numpy array itself, or a tensor's address."""
    return array if array is None or type(array) is np.ndarray else array.data_ptr()


def remember(table, key, value):
    if len(table) >= LIMIT:
        table.clear()
    table[key] = value


def signature(function, input, weight, bias, arguments):
    """A call's signature: array types, dtypes, shapes and strides, and the arguments as given
    (by repr, which tells 1, 1.0 and True apart where == does not). Raises (AttributeError,
    TypeError, ...) for what the fast path does not take: non-arrays."""
    arguments = repr(arguments)
    if type(input) is np.ndarray:
        return (function, np.ndarray, input.dtype, input.shape, input.strides, type(weight),
                weight.dtype, weight.shape, weight.strides,
                None if bias is None else (type(bias), bias.dtype, bias.shape, bias.strides),
                arguments)
    return (function, type(input), input.dtype, input.shape, input.stride(), type(weight),
            weight.dtype, weight.shape, weight.stride(),
            None if bias is None else (type(bias), bias.dtype, bias.shape, bias.stride()),
            arguments)


def bind(table, key, kind, src, weight, bias, out, params, algo, channels_last, unbatched,
         op=None):
    """Remembers in `table` a checked call (kind 'forward' or 'transposed', with its InnerOp
    `op` or none) that needed no conversion, for run_bound."""
    is_torch = _arrays.is_torch(src)
    if is_torch:
        if not torch_ready(src, weight, bias):
            return
    elif any(a is not None and _arrays.usable(a) is not a for a in (src, weight, bias)):
        return
    operands = {"src": _arrays.descriptor(src), "weight": _arrays.descriptor(weight),
                "bias": _arrays.descriptor(bias), "dst": _arrays.descriptor(out)}
    bound = _fastconv.BoundConv(kind, operands, params, algo, op)
    remember(table, key, (bound.run, Result(src, out.shape, channels_last).allocate, unbatched,
                          is_torch))


def lookup(table, function, input, weight, bias, arguments):
    """(key, result): the result of a call remembered in `table` (key: its signature), or
    result None when this call takes the checked path (then key, unless None, is where
    bind() may remember it)."""
    try:
        key = signature(function, input, weight, bias, arguments)
    except Exception:  # noqa: BLE001 - whatever the fast path does not take is checked
        return None, None
    call = table.get(key)
    return key, None if call is None else run_bound(call, input, weight, bias)


def run_bound(call, input, weight, bias):
    """The result of a remembered call, or None when this call must take the checked path
    (autograd, a lazy tensor state, misaligned numpy data)."""
    run, allocate, unbatched, is_torch = call
    if not is_torch:  # numpy arrays are passed as they are (alignment checked in C++)
        out = allocate()
        done = run(input, weight, out) if bias is None else run(input, weight, bias, out)
    elif torch_ready(input, weight, bias):
        out = allocate()
        done = (run(input.data_ptr(), weight.data_ptr(), out.data_ptr()) if bias is None else
                run(input.data_ptr(), weight.data_ptr(), bias.data_ptr(), out.data_ptr()))
    else:
        return None
    if not done:
        return None
    return out[0] if unbatched else out
