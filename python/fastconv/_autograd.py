"""torch.autograd.Function wrappers over the C++ backward operations (no double backward).

convolution y = conv(x, w) + b:
  grad_x = conv_backward_data(grad_y, w), grad_w = conv_backward_weights(x, grad_y),
  grad_b = sum of grad_y over batch and space.
transposed convolution y = conv_T(x, w) + b (the adjoint of conv with weight w):
  grad_x = conv(grad_y, w), grad_w = conv_backward_weights(grad_y, x) (roles swapped).
When output_padding >= stride (allowed when < dilation) conv(grad_y, w) reaches past x's size;
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


def _save_and_run(ctx, operation, src, weight, bias, params, algo, transposed):
    """The shared forward of both Functions: keep what backward needs, run on detached data.
    Every result (output and gradients) takes the memory format torch's would."""
    ctx.save_for_backward(src, weight)
    ctx.params, ctx.algo = params, algo
    ctx.channels_last = _arrays.conv_result_channels_last(src, weight, transposed)
    return operation(src.detach(), weight.detach(), None if bias is None else bias.detach(),
                     params, algo, ctx.channels_last)


class ConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, weight, bias, params, algo):
        return _save_and_run(ctx, _ops.conv_forward, src, weight, bias, params, algo, False)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        src, weight = ctx.saved_tensors
        need_src, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_src = grad_weight = grad_bias = None
        if need_src:
            grad_src = _ops.conv_backward_data(grad_out, weight, src.shape, ctx.params, ctx.algo,
                                               ctx.channels_last)
        if need_weight:
            grad_weight, grad_bias = _ops.conv_backward_weights(
                src, grad_out, weight.shape, need_bias, ctx.params, ctx.algo, ctx.channels_last)
        elif need_bias:
            grad_bias = _bias_grad(grad_out)
        return grad_src, grad_weight, grad_bias, None, None


class ConvTransposeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, weight, bias, params, algo):
        return _save_and_run(ctx, _ops.conv_transpose_forward, src, weight, bias, params, algo,
                             True)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        src, weight = ctx.saved_tensors
        need_src, need_weight, need_bias = ctx.needs_input_grad[:3]
        params = without_output_padding(ctx.params)
        grad_src = grad_weight = grad_bias = None
        if need_src:
            full = _ops.conv_forward(grad_out, weight, None, params, ctx.algo, ctx.channels_last)
            grad_src = _crop(full, src.shape)
        if need_weight:
            reach = _ops.forward_output_shape(grad_out.shape, weight.shape, params)
            grad_weight, _ = _ops.conv_backward_weights(
                grad_out, _zero_extend(src, reach), weight.shape, False, params, ctx.algo,
                ctx.channels_last)
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
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        return _ops.fold(grad_out, ctx.spatial, ctx.kernel, ctx.params, ctx.algo), None, None, None


class FoldFunction(torch.autograd.Function):
    """fold's adjoint is unfold."""

    @staticmethod
    def forward(ctx, src, output_size, kernel, params, algo):
        ctx.kernel, ctx.params, ctx.algo = kernel, params, algo
        return _ops.fold(src.detach(), output_size, kernel, params, algo)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        return _ops.unfold(grad_out, ctx.kernel, ctx.params, ctx.algo), None, None, None, None
