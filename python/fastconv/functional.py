"""torch.nn.functional-compatible convolution calls on numpy arrays and torch CPU tensors.

Same names, argument order and defaults as torch.nn.functional; beyond torch:
  * padding also takes (begin, end) pairs per spatial dim, and 'valid' / 'same' everywhere
    (see _params.py), including transposed convolution;
  * algo= picks the engine (keyword-only): 'auto' or any name in fastconv.ENGINES
    (unfold / fold: fastconv.WINDOW_ENGINES);
  * numpy in, numpy out; torch in, torch out (differentiable when the tensors require grad);
  * out= (keyword-only, every op but windows) writes the result into an existing array of the
    input's kind, dtype and the result's exact shape, any strides, not overlapping the inputs,
    and returns it (like torch's out=, without resizing; not with autograd). Results the
    library allocates are in huge pages when large (_arrays.LARGE_RESULT_BYTES).
float32 and float64; any strides (no copy for contiguous or channels-last inputs).
"""

import math

import numpy as np

from . import _arrays, _fastconv, _fastpath, _ops
from ._params import WINDOW_ENGINES, check_algo, conv_params, int_tuple, padding_pairs

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold", "windows"]


def _batched(array, dims, name, function, axes="C, spatial..."):
    """(array with a batch axis, whether one was added) for batched (N, axes) or unbatched
    (axes) input."""
    if array.ndim == dims + 2:
        return array, False
    if array.ndim == dims + 1:
        return array[None], True
    raise ValueError(f"{function}: {name} has shape {tuple(array.shape)}; expected {dims + 2} dims "
                     f"(N, {axes}) or {dims + 1} dims ({axes})")


def _check_weight(weight, dims, function):
    if weight.ndim != dims + 2:
        raise ValueError(f"{function}: weight has shape {tuple(weight.shape)}; expected {dims + 2} "
                         "dims (out_channels, in_channels / groups, kernel...)")


def _needs_autograd(*arrays):
    if not _arrays.is_torch(arrays[0]):
        return False
    import torch
    return torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in arrays)


def _out_view(out, input, function, unbatched, grad_arrays):
    """out= checked (_arrays.check_out), batched like the input (None without out=)."""
    if out is None:
        return None
    _arrays.check_out(out, input, function, grad_arrays)
    return out[None] if unbatched else out


_bound_calls = {}  # signature -> a remembered call (_fastpath.bind)


def _convolution(function, dims, transposed, input, weight, bias, stride, padding, dilation,
                 groups, output_padding, algo, out=None):
    key = None
    if out is None:  # a signature seen before: only what may change per call is checked
        key, result = _fastpath.lookup(_bound_calls, function, input, weight, bias,
                                       (stride, padding, dilation, groups, output_padding, algo))
        if result is not None:
            return result
    _arrays.check_same_kind([("input", input), ("weight", weight), ("bias", bias)],
                            optional=("bias",))
    check_algo(algo, function)
    src, unbatched = _batched(input, dims, "input", function)
    _check_weight(weight, dims, function)
    params = conv_params(dims, src.shape[2:], weight.shape[2:], stride, padding, dilation, groups,
                         output_padding, transposed)
    dst = _out_view(out, input, function, unbatched, (input, weight, bias))
    if dst is not None:
        channels_last = _arrays.conv_result_channels_last(src, weight, transposed)
        run = _ops.conv_transpose_forward if transposed else _ops.conv_forward
        run(src, weight, bias, params, algo, channels_last, dst, function)
        return out
    if _needs_autograd(src, weight, bias):
        from . import _autograd
        apply = (_autograd.ConvTransposeFunction if transposed else _autograd.ConvFunction).apply
        out = apply(src, weight, bias, params, algo)
    else:
        channels_last = _arrays.conv_result_channels_last(src, weight, transposed)
        run = _ops.conv_transpose_forward if transposed else _ops.conv_forward
        out = run(src, weight, bias, params, algo, channels_last)
        if key is not None:
            _fastpath.bind(_bound_calls, key, "transposed" if transposed else "forward", src,
                           weight, bias, out, params, algo, channels_last, unbatched)
    return out[0] if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto",
           out=None):
    return _convolution("conv1d", 1, False, input, weight, bias, stride, padding, dilation,
                        groups, 0, algo, out)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto",
           out=None):
    return _convolution("conv2d", 2, False, input, weight, bias, stride, padding, dilation,
                        groups, 0, algo, out)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto",
           out=None):
    return _convolution("conv3d", 3, False, input, weight, bias, stride, padding, dilation,
                        groups, 0, algo, out)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algo="auto", out=None):
    return _convolution("conv_transpose1d", 1, True, input, weight, bias, stride, padding,
                        dilation, groups, output_padding, algo, out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algo="auto", out=None):
    return _convolution("conv_transpose2d", 2, True, input, weight, bias, stride, padding,
                        dilation, groups, output_padding, algo, out)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algo="auto", out=None):
    return _convolution("conv_transpose3d", 3, True, input, weight, bias, stride, padding,
                        dilation, groups, output_padding, algo, out)


def _window_dims(size_argument, fallback):
    return len(size_argument) if isinstance(size_argument, (list, tuple)) else fallback


def _window_params(dims, image_spatial, kernel, stride, padding, dilation):
    stride = int_tuple(stride, dims, "stride")
    dilation = int_tuple(dilation, dims, "dilation")
    begin, end, _ = padding_pairs(padding, dims, image_spatial, kernel, stride, dilation)
    return {"spatial_dims": dims, "stride": list(stride), "dilation": list(dilation),
            "pad_begin": begin, "pad_end": end, "output_padding": [0] * dims, "groups": 1}


def _unfold_dims(input, kernel_size):
    """unfold's spatial rank: len(kernel_size) for a sequence; for an int, torch's rule (a
    (C, H, W) or (N, C, H, W) input is a 2-D image) and fastconv's 3-D extension for
    (N, C, D, H, W). 1-D signals take kernel_size as a sequence: (k,)."""
    if isinstance(kernel_size, (list, tuple)):
        return len(kernel_size)
    if input.ndim in (3, 4):
        return 2
    if input.ndim == 5:
        return 3
    raise ValueError(f"unfold: input has shape {tuple(input.shape)}; with an int kernel_size "
                     "expected (C, H, W), (N, C, H, W) or (N, C, D, H, W); for a 1-D signal "
                     "pass kernel_size=(k,)")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1, *, algo="auto", out=None):
    """(N, C, spatial...) -> (N, C * prod(kernel), L), as torch.nn.functional.unfold (2-D;
    unbatched (C, H, W) -> (C * prod(kernel), L)) and its 1-D / 3-D extension. The spatial
    rank is len(kernel_size) for a sequence; for an int, 2 for 3-D and 4-D inputs (torch's
    rule) and 3 for 5-D ones. Inputs of rank spatial + 1 are unbatched."""
    _arrays.check_same_kind([("input", input)])
    check_algo(algo, "unfold", WINDOW_ENGINES)
    dims = _unfold_dims(input, kernel_size)
    src, unbatched = _batched(input, dims, "input", "unfold")
    kernel = list(int_tuple(kernel_size, dims, "kernel_size"))
    params = _window_params(dims, src.shape[2:], kernel, stride, padding, dilation)
    dst = _out_view(out, input, "unfold", unbatched, (input,))
    if dst is not None:
        _ops.unfold(src, kernel, params, algo, dst)
        return out
    if _needs_autograd(src):
        from . import _autograd
        result = _autograd.UnfoldFunction.apply(src, kernel, params, algo)
    else:
        result = _ops.unfold(src, kernel, params, algo)
    return result[0] if unbatched else result


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *, algo="auto",
         out=None):
    """(N, C * prod(kernel), L) -> (N, C, *output_size), summing overlaps: the adjoint of unfold,
    as torch.nn.functional.fold (2-D) and its 1-D / 3-D extension."""
    _arrays.check_same_kind([("input", input)])
    check_algo(algo, "fold", WINDOW_ENGINES)
    dims = _window_dims(output_size, _window_dims(kernel_size, 2))
    src, unbatched = _batched(input, 1, "input", "fold", "C * prod(kernel_size), L")
    size = list(int_tuple(output_size, dims, "output_size"))
    kernel = list(int_tuple(kernel_size, dims, "kernel_size"))
    for name, values in (("output_size", size), ("kernel_size", kernel)):
        if any(v < 1 for v in values):
            raise ValueError(f"fold: {name} = {tuple(values)}; every entry must be >= 1")
    params = _window_params(dims, size, kernel, stride, padding, dilation)
    volume = math.prod(kernel)
    if src.shape[1] % volume:
        raise ValueError(f"fold: input.shape[1] = {src.shape[1]} is not a multiple of the kernel "
                         f"volume {volume} (kernel_size {tuple(kernel)})")
    dst = _out_view(out, input, "fold", unbatched, (input,))
    if dst is not None:
        _ops.fold(src, size, kernel, params, algo, dst)
        return out
    if _needs_autograd(src):
        from . import _autograd
        result = _autograd.FoldFunction.apply(src, size, kernel, params, algo)
    else:
        result = _ops.fold(src, size, kernel, params, algo)
    return result[0] if unbatched else result


def windows(input, kernel_size, stride=1, dilation=1):
    """A zero-copy view of every kernel window: (N, C, out..., kernel...), like numpy's
    as_strided / skimage's view_as_windows. No padding (pad first). numpy views are read-only,
    since windows overlap. A torch tensor with a pending negation or conjugation (x.is_neg(),
    x.is_conj()) gives a view that keeps it, as torch's own views do: its values are the
    input's, and it still aliases the input's memory."""
    _arrays.check_same_kind([("input", input)])
    dims = _window_dims(kernel_size, input.ndim - 2)
    if input.ndim != dims + 2:
        raise ValueError(f"windows: input has shape {tuple(input.shape)}; expected {dims + 2} "
                         "dims (N, C, spatial...)")
    kernel = list(int_tuple(kernel_size, dims, "kernel_size"))
    stride = list(int_tuple(stride, dims, "stride"))
    dilation = list(int_tuple(dilation, dims, "dilation"))
    if not _arrays.is_torch(input):
        input = _arrays.element_aligned(input)
    shape, strides = _fastconv.windows_layout(_arrays.descriptor(input, reads_values=False),
                                              kernel, stride, dilation)
    if _arrays.is_torch(input):
        return input.as_strided(shape, strides, input.storage_offset())
    return np.lib.stride_tricks.as_strided(input, shape, [s * input.itemsize for s in strides],
                                           writeable=False)
