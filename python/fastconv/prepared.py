"""Inference set-up: a convolution prepared once for one input shape, its weights packed into
the chosen engine's layout, then run on many inputs.

    conv = fastconv.prepare_conv(x, w, b, stride=1, padding=1)   # plans, packs w
    y = conv(x)                                                   # as F.conv2d(x, w, b, ...)
    conv.engine, conv.workspace_bytes, conv.flop_count, conv.description

The weights and bias are copied at preparation (later changes to w do not affect `conv`).
Inputs to __call__ must have the prepared shape, dtype and array type (numpy or torch); any
strides. No autograd: use fastconv.conv*d / fastconv.nn for training.
"""

from . import _arrays, _fastconv, _fastpath
from ._arrays import descriptor as _d
from ._params import check_algo, conv_params

__all__ = ["prepare_conv", "PreparedConv"]


class PreparedConv:
    """A forward convolution with packed weights for inputs of one shape (see prepare_conv)."""

    def __init__(self, input, weight, bias, stride, padding, dilation, groups, algo):
        _arrays.check_same_kind([("input", input), ("weight", weight), ("bias", bias)],
                                optional=("bias",))
        check_algo(algo, "prepare_conv")
        dims = weight.ndim - 2
        if dims not in (1, 2, 3) or input.ndim != dims + 2:
            raise ValueError(f"prepare_conv: input has shape {tuple(input.shape)} and weight "
                             f"{tuple(weight.shape)}; expected (N, C, spatial...) and "
                             "(out_channels, in_channels / groups, kernel...) with 1-3 spatial dims")
        input, weight = _arrays.usable(input), _arrays.usable(weight)
        self._params = conv_params(dims, input.shape[2:], weight.shape[2:], stride, padding,
                                   dilation, groups, 0, False)
        self._input_shape = tuple(int(v) for v in input.shape)
        self._is_torch = _arrays.is_torch(input)
        self._dtype = _arrays.dtype_name(input)
        self._output_shape = _fastconv.output_shape("forward", list(self._input_shape),
                                                    [int(v) for v in weight.shape], self._params)
        # The bias is small: keep a contiguous copy and pass it on every run.
        if bias is not None:
            bias = _arrays.usable(bias.detach() if self._is_torch else bias)
        self._bias = None if bias is None else bias.clone().contiguous() if self._is_torch \
            else bias.copy()
        template = _arrays.empty_like_layout(input, self._output_shape)
        self._plan = _fastconv.Plan("forward", {"src": _d(input), "weight": _d(weight),
                                                "bias": _d(self._bias), "dst": _d(template)},
                                    self._params, algo)
        self._plan.pack_weights(_d(weight.detach() if self._is_torch else weight))
        self._weight_channels_last = _arrays.suggests_channels_last(weight)
        self._bound = {}  # input signature -> (BoundConv.run, bias address, result allocator)

    def __call__(self, input):
        call = self._bound.get(_fastpath.array_signature(input))
        if call is not None and \
                (not self._is_torch or _fastpath.torch_ready(input, autograd=False)):
            run, bias, allocate = call
            out = allocate()
            if (run(_fastpath.address(input), _fastpath.address(out)) if bias is None else
                    run(_fastpath.address(input), bias, _fastpath.address(out))):
                return out
        _arrays.check_same_kind([("input", input)])
        if _arrays.is_torch(input) != self._is_torch or _arrays.dtype_name(input) != self._dtype:
            raise TypeError(f"PreparedConv: input is a {type(input).__name__} of "
                            f"{_arrays.dtype_name(input)}; prepared for "
                            f"{'torch' if self._is_torch else 'numpy'} {self._dtype}")
        if tuple(input.shape) != self._input_shape:
            raise ValueError(f"PreparedConv: input has shape {tuple(input.shape)}; prepared for "
                             f"{self._input_shape}")
        given = input
        input = _arrays.usable(input.detach() if self._is_torch else input)
        channels_last = _arrays.conv_result_channels_last(input, self._weight_channels_last, False)
        dst = _arrays.empty_like_layout(input, self._output_shape, channels_last)
        self._plan.run({"src": _d(input), "bias": _d(self._bias), "dst": _d(dst)})
        self._bind(given, input, dst, channels_last)
        return dst

    def _bind(self, given, input, dst, channels_last):
        """Remembers the layout of a call that needed no conversion (see _fastpath.py)."""
        signature = _fastpath.array_signature(given)
        if signature is None or signature in self._bound:
            return
        if self._is_torch:
            if not _fastpath.torch_ready(given, autograd=False):
                return
        elif input is not given:
            return
        operands = {"src": _d(input), "dst": _d(dst)}
        if self._bias is not None:
            operands["bias"] = _d(self._bias)
        run = _fastconv.BoundConv(self._plan, operands).run
        allocate = _fastpath.Result(input, self._output_shape, channels_last).allocate
        _fastpath.remember(self._bound, signature,
                           (run, _fastpath.address(self._bias), allocate))

    engine = property(lambda self: self._plan.engine, doc="the engine chosen")
    workspace_bytes = property(lambda self: self._plan.workspace_bytes)
    flop_count = property(lambda self: self._plan.flop_count)
    description = property(lambda self: self._plan.description)

    def __repr__(self):
        return f"PreparedConv({self.description})"


def prepare_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                 algo="auto"):
    """Plans the forward convolution F.conv{1,2,3}d(input, weight, bias, ...) once for inputs of
    input's shape and dtype and packs the weights; returns a callable PreparedConv."""
    return PreparedConv(input, weight, bias, stride, padding, dilation, groups, algo)
