"""Drop-in replacements for torch.nn's convolution modules.

Each class subclasses its torch.nn counterpart, so constructor arguments, parameter names,
state_dict keys, initialisation and repr are torch's own; only the computation goes through
fastconv. Switch a model by changing the import. Extra keyword argument: algo (engine).
"""

import torch

from . import functional as F
from ._params import check_algo
from .custom import CustomOp

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
           "CustomConv1d", "CustomConv2d", "CustomConv3d"]


def _convolution_module(torch_class, function):
    class Module(torch_class):
        def __init__(self, *args, algo="auto", **kwargs):
            super().__init__(*args, **kwargs)
            self.algo = check_algo(algo, type(self).__name__)

        def _conv_forward(self, input, weight, bias):
            if self.padding_mode != "zeros":  # torch pads explicitly for these modes, then convolves
                input = torch.nn.functional.pad(input, self._reversed_padding_repeated_twice,
                                                mode=self.padding_mode)
                return function(input, weight, bias, self.stride, 0, self.dilation, self.groups,
                                algo=self.algo)
            return function(input, weight, bias, self.stride, self.padding, self.dilation,
                            self.groups, algo=self.algo)

        def forward(self, input):
            return self._conv_forward(input, self.weight, self.bias)

    Module.__name__ = Module.__qualname__ = torch_class.__name__
    Module.__doc__ = f"fastconv drop-in for torch.nn.{torch_class.__name__}."
    return Module


def _transposed_module(torch_class, function, spatial_dims):
    class Module(torch_class):
        def __init__(self, *args, algo="auto", **kwargs):
            super().__init__(*args, **kwargs)
            self.algo = check_algo(algo, type(self).__name__)

        def forward(self, input, output_size=None):
            if self.padding_mode != "zeros":
                raise ValueError(f"Only 'zeros' padding mode is supported for {type(self).__name__}")
            output_padding = self._output_padding(input, output_size, self.stride, self.padding,
                                                  self.kernel_size, spatial_dims, self.dilation)
            return function(input, self.weight, self.bias, self.stride, self.padding,
                            output_padding, self.groups, self.dilation, algo=self.algo)

    Module.__name__ = Module.__qualname__ = torch_class.__name__
    Module.__doc__ = f"fastconv drop-in for torch.nn.{torch_class.__name__}."
    return Module


Conv1d = _convolution_module(torch.nn.Conv1d, F.conv1d)
Conv2d = _convolution_module(torch.nn.Conv2d, F.conv2d)
Conv3d = _convolution_module(torch.nn.Conv3d, F.conv3d)
ConvTranspose1d = _transposed_module(torch.nn.ConvTranspose1d, F.conv_transpose1d, 1)
ConvTranspose2d = _transposed_module(torch.nn.ConvTranspose2d, F.conv_transpose2d, 2)
ConvTranspose3d = _transposed_module(torch.nn.ConvTranspose3d, F.conv_transpose3d, 3)


def _custom_module(torch_class, dims):
    class Module(torch_class):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                     dilation=1, groups=1, bias=True, *, combine="x * w", reduce="sum",
                     epilogue=None, pad_value=0.0, params=None, grad=None, algo="auto",
                     device=None, dtype=None):
            # torch's constructor checks padding its own way (no (begin, end) pairs, no 'same'
            # with stride > 1): it gets 0, and the module keeps the given padding.
            super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups,
                             bias, device=device, dtype=dtype)
            self.padding = padding if isinstance(padding, str) else \
                (tuple(padding) if isinstance(padding, (list, tuple)) else (padding,) * dims)
            self.algo = check_algo(algo, type(self).__name__)
            self.op = CustomOp(combine=combine, reduce=reduce, epilogue=epilogue,
                               pad_value=pad_value, params=params, grad=grad)

        def forward(self, input):
            return self.op._conv(dims, type(self).__name__, input, self.weight, self.bias,
                                 self.stride, self.padding, self.dilation, self.groups,
                                 self.algo, None, None)

        def extra_repr(self):
            text = super().extra_repr()
            if "padding=" not in text:
                text += f", padding={self.padding}"
            text += f", combine={self.op.combine!r}, reduce={self.op.reduce!r}"
            if self.op.epilogue is not None:
                text += f", epilogue={self.op.epilogue!r}"
            if self.op.pad_value != 0.0:
                text += f", pad_value={self.op.pad_value!r}"
            if self.op.params:
                text += f", params={self.op.params!r}"
            if self.op.grad is not None:
                text += f", grad={self.op.grad!r}"
            return text

    name = f"CustomConv{dims}d"
    Module.__name__ = Module.__qualname__ = name
    Module.__doc__ = (f"A custom convolution layer (fastconv.custom_conv{dims}d) with the "
                      f"parameters of torch.nn.{torch_class.__name__} (weight and bias initialised "
                      "as torch's, same state_dict keys); combine, reduce, epilogue, pad_value, "
                      "params and grad as custom_conv*d.")
    return Module


CustomConv1d = _custom_module(torch.nn.Conv1d, 1)
CustomConv2d = _custom_module(torch.nn.Conv2d, 2)
CustomConv3d = _custom_module(torch.nn.Conv3d, 3)
