"""The raw operations on arrays (no autograd): allocate the result, call the C++ core.

Every function takes already-checked arrays of one type and dtype and a parameter dict from
_params.conv_params. Results follow the input's type; convolution results are channels-last
when `channels_last` says so (the callers apply _arrays.conv_result_channels_last).
"""

import math

from . import _arrays, _fastconv
from ._arrays import descriptor as _d


def _shape(array):
    return [int(v) for v in array.shape]


def _result(template, shape, out, function, channels_last=False):
    if out is None:
        return _arrays.empty_like_layout(template, shape, channels_last)
    _arrays.check_out_shape(out, shape, function)
    return out


def _convolve(kind, src, weight, bias, params, algo, channels_last, out=None, function="conv"):
    """Forward or transposed convolution: dst of the input's type, channels-last or not."""
    src, weight, bias = (_arrays.usable(a) if a is not None else None for a in (src, weight, bias))
    shape = _fastconv.output_shape(kind, _shape(src), _shape(weight), params)
    dst = _result(src, shape, out, function, channels_last)
    _fastconv.run_conv(kind, {"src": _d(src), "weight": _d(weight), "bias": _d(bias),
                              "dst": _d(dst)}, params, algo)
    return dst


def conv_forward(src, weight, bias, params, algo, channels_last, out=None, function="conv"):
    return _convolve("forward", src, weight, bias, params, algo, channels_last, out, function)


def conv_transpose_forward(src, weight, bias, params, algo, channels_last, out=None,
                           function="conv_transpose"):
    return _convolve("transposed", src, weight, bias, params, algo, channels_last, out, function)


def conv_backward_data(diff_dst, weight, src_shape, params, algo, channels_last):
    diff_dst, weight = _arrays.usable(diff_dst), _arrays.usable(weight)
    diff_src = _arrays.empty_like_layout(diff_dst, src_shape, channels_last)
    _fastconv.run_conv("backward_data", {"diff_dst": _d(diff_dst), "weight": _d(weight),
                                         "diff_src": _d(diff_src)}, params, algo)
    return diff_src


def conv_backward_weights(src, diff_dst, weight_shape, with_bias, params, algo, channels_last):
    src, diff_dst = _arrays.usable(src), _arrays.usable(diff_dst)
    diff_weight = _arrays.empty_like_layout(src, weight_shape, channels_last)
    diff_bias = _arrays.empty_like_layout(src, [weight_shape[0]]) if with_bias else None
    _fastconv.run_conv("backward_weights", {"src": _d(src), "diff_dst": _d(diff_dst),
                                            "diff_weight": _d(diff_weight),
                                            "diff_bias": _d(diff_bias)}, params, algo)
    return diff_weight, diff_bias


def forward_output_shape(src_shape, weight_shape, params):
    return _fastconv.output_shape("forward", list(src_shape), list(weight_shape), params)


def unfold(src, kernel, params, algo, out=None):
    src = _arrays.usable(src)
    shape = _fastconv.unfold_output_shape(_shape(src), list(kernel), params)
    dst = _result(src, shape, out, "unfold")
    _fastconv.unfold(_d(src), _d(dst), list(kernel), params, algo)
    return dst


def fold(src, output_size, kernel, params, algo, out=None):
    src = _arrays.usable(src)
    image_shape = [int(src.shape[0]), int(src.shape[1]) // math.prod(kernel)] + list(output_size)
    try:  # the result's shape is validated before it is allocated
        _fastconv.unfold_output_shape(image_shape, list(kernel), params)
    except ValueError as error:
        raise type(error)(f"fold: a result of shape {tuple(image_shape)}: {error}") from None
    dst = _result(src, image_shape, out, "fold")
    _fastconv.fold(_d(src), _d(dst), list(kernel), params, algo)
    return dst
