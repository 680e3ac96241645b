"""torch.autograd.Function wrappers over the C++ operations, differentiable to any order.

Three bilinear operations, each the adjoint of another in one argument:
  F(x, w)         = conv(x, w)                        (the forward, + b)
  D(g, w; shape)  = conv_backward_data(g, w)          <D(g, w), a> = <g, F(a, w)>
  W(x, g; shape)  = conv_backward_weights(x, g)       <W(x, g), a> = <F(x, a), g>
so every derivative of one is made of the others:
  F: dx = D(gy, w), dw = W(x, gy), db = sum of gy over batch and space
  D: dg = F(gr, w), dw = W(gr, g)
  W: dx = D(g, gr), dg = F(x, gr)
and each backward calls the others' Functions: with create_graph=True (gradient penalties,
Hessian-vector products) torch records them, giving double (and higher) backward; otherwise
they run as plain calls. Without create_graph, F's weight and bias gradients are one fused
backward_weights call.
transposed convolution y = conv_T(x, w) + b (the adjoint of conv with weight w):
  grad_x = F(grad_y, w), grad_w = W(grad_y, x) (roles swapped).
When output_padding >= stride (allowed when < dilation) F(grad_y, w) reaches past x's size;
the extra positions do not exist in x and are cropped (grad_x) or read as zero (grad_w).
"""

import torch

from . import _arrays, _ops
from ._params import without_output_padding


def _bias_grad(grad_out):
    return grad_out.sum(dim=[0] + list(range(2, grad_out.dim())))


def _crop(array, shape):
    return array[tuple(slice(0, s) for s in shape)]


def _zero_extend(array, shape):
    if list(array.shape) == list(shape):
        return array
    out = torch.zeros(tuple(shape), dtype=array.dtype)
    out[tuple(slice(0, s) for s in array.shape)] = array
    return out


def _save_and_run(ctx, operation, src, weight, bias, params, algo, transposed,
                  channels_last=None):
    """The shared forward of both Functions: keep what backward needs, run on detached data.
    Every result (output and gradients) takes the memory format torch's would (or the caller's
    channels_last: a gradient takes its forward's)."""
    ctx.save_for_backward(src, weight)
    ctx.params, ctx.algo = params, algo
    ctx.channels_last = (_arrays.conv_result_channels_last(src, weight, transposed)
                         if channels_last is None else channels_last)
    return operation(src.detach(), weight.detach(), None if bias is None else bias.detach(),
                     params, algo, ctx.channels_last)


def _data(g, w, shape, params, algo, channels_last):
    return BackwardDataFunction.apply(g, w, tuple(shape), params, algo, channels_last)


def _weights(x, g, shape, params, algo, channels_last):
    return BackwardWeightsFunction.apply(x, g, tuple(shape), params, algo, channels_last)


def _conv(x, w, params, algo, channels_last):
    return ConvFunction.apply(x, w, None, params, algo, channels_last)


class ConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, weight, bias, params, algo, channels_last=None):
        return _save_and_run(ctx, _ops.conv_forward, src, weight, bias, params, algo, False,
                             channels_last)

    @staticmethod
    def backward(ctx, grad_out):
        src, weight = ctx.saved_tensors
        need_src, need_weight, need_bias = ctx.needs_input_grad[:3]
        params, algo, channels_last = ctx.params, ctx.algo, ctx.channels_last
        grad_src = grad_weight = grad_bias = None
        if need_src:
            grad_src = _data(grad_out, weight, src.shape, params, algo, channels_last)
        if need_weight and need_bias and not torch.is_grad_enabled():  # one fused call
            grad_weight, grad_bias = _ops.conv_backward_weights(
                src, grad_out, weight.shape, True, params, algo, channels_last)
        else:
            if need_weight:
                grad_weight = _weights(src, grad_out, weight.shape, params, algo, channels_last)
            if need_bias:
                grad_bias = _bias_grad(grad_out)
        return grad_src, grad_weight, grad_bias, None, None, None


class BackwardDataFunction(torch.autograd.Function):
    """D(g, w; shape): the gradient of a convolution's input, as a differentiable operation."""

    @staticmethod
    def forward(ctx, grad_out, weight, src_shape, params, algo, channels_last):
        ctx.save_for_backward(grad_out, weight)
        ctx.params, ctx.algo, ctx.channels_last = params, algo, channels_last
        return _ops.conv_backward_data(grad_out.detach(), weight.detach(), list(src_shape),
                                       params, algo, channels_last)

    @staticmethod
    def backward(ctx, grad_result):
        grad_out, weight = ctx.saved_tensors
        need_g, need_w = ctx.needs_input_grad[:2]
        grad_g = _conv(grad_result, weight, ctx.params, ctx.algo,
                       ctx.channels_last) if need_g else None
        grad_w = _weights(grad_result, grad_out, weight.shape, ctx.params, ctx.algo,
                          ctx.channels_last) if need_w else None
        return grad_g, grad_w, None, None, None, None


class BackwardWeightsFunction(torch.autograd.Function):
    """W(x, g; shape): the gradient of a convolution's weight, as a differentiable operation."""

    @staticmethod
    def forward(ctx, src, grad_out, weight_shape, params, algo, channels_last):
        ctx.save_for_backward(src, grad_out)
        ctx.params, ctx.algo, ctx.channels_last = params, algo, channels_last
        grad_weight, _ = _ops.conv_backward_weights(src.detach(), grad_out.detach(),
                                                    list(weight_shape), False, params, algo,
                                                    channels_last)
        return grad_weight

    @staticmethod
    def backward(ctx, grad_result):
        src, grad_out = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad[:2]
        grad_x = _data(grad_out, grad_result, src.shape, ctx.params, ctx.algo,
                       ctx.channels_last) if need_x else None
        grad_g = _conv(src, grad_result, ctx.params, ctx.algo,
                       ctx.channels_last) if need_g else None
        return grad_x, grad_g, None, None, None, None


class ConvTransposeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, weight, bias, params, algo):
        return _save_and_run(ctx, _ops.conv_transpose_forward, src, weight, bias, params, algo,
                             True)

    @staticmethod
    def backward(ctx, grad_out):
        src, weight = ctx.saved_tensors
        need_src, need_weight, need_bias = ctx.needs_input_grad[:3]
        params = without_output_padding(ctx.params)
        grad_src = grad_weight = grad_bias = None
        if need_src:
            grad_src = _crop(_conv(grad_out, weight, params, ctx.algo, ctx.channels_last),
                             src.shape)
        if need_weight:
            reach = _ops.forward_output_shape(grad_out.shape, weight.shape, params)
            grad_weight = _weights(grad_out, _zero_extend(src, reach), weight.shape, params,
                                   ctx.algo, ctx.channels_last)
        if need_bias:
            grad_bias = _bias_grad(grad_out)
        return grad_src, grad_weight, grad_bias, None, None


class UnfoldFunction(torch.autograd.Function):
    """unfold's adjoint is fold over the input's spatial size."""

    @staticmethod
    def forward(ctx, src, kernel, params, algo):
        ctx.spatial, ctx.kernel, ctx.params, ctx.algo = list(src.shape[2:]), kernel, params, algo
        return _ops.unfold(src.detach(), kernel, params, algo)

    @staticmethod
    def backward(ctx, grad_out):
        return (FoldFunction.apply(grad_out, ctx.spatial, ctx.kernel, ctx.params, ctx.algo),
                None, None, None)


class FoldFunction(torch.autograd.Function):
    """fold's adjoint is unfold."""

    @staticmethod
    def forward(ctx, src, output_size, kernel, params, algo):
        ctx.kernel, ctx.params, ctx.algo = kernel, params, algo
        return _ops.fold(src.detach(), output_size, kernel, params, algo)

    @staticmethod
    def backward(ctx, grad_out):
        return (UnfoldFunction.apply(grad_out, ctx.kernel, ctx.params, ctx.algo),
                None, None, None, None)
