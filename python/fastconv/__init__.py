"""fastconv: fast, memory-bounded convolution on CPUs for numpy and PyTorch users.

    import fastconv
    y = fastconv.conv2d(x, w, b, stride=2, padding='same')   # numpy or torch, as F.conv2d
    layer = fastconv.nn.Conv2d(3, 16, 3)                       # drop-in for torch.nn.Conv2d
    conv = fastconv.prepare_conv(x, w, b, padding=1); y = conv(x)  # inference: weights packed once
"""

from ._fastconv import __version__, get_num_threads, set_num_threads
from ._fastconv import engines as _engines
from .functional import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
                         conv_transpose3d, fold, unfold, windows)
from .prepared import PreparedConv, prepare_conv

ENGINES = tuple(_engines())

try:
    from . import nn
except ImportError:  # torch is not installed: the numpy front still works
    nn = None

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold", "windows", "set_num_threads",
           "get_num_threads", "nn", "ENGINES", "__version__", "prepare_conv", "PreparedConv"]
