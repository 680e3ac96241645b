"""fastconv: fast, memory-bounded convolution on CPUs for numpy and PyTorch users.

    import fastconv
    y = fastconv.conv2d(x, w, b, stride=2, padding='same')   # numpy or torch, as F.conv2d
    layer = fastconv.nn.Conv2d(3, 16, 3)                       # drop-in for torch.nn.Conv2d
    conv = fastconv.prepare_conv(x, w, b, padding=1); y = conv(x)  # inference: weights packed once
    y = fastconv.custom_conv2d(x, w, combine="-abs(x - w)")    # custom inner operations
"""

from . import _fastconv
from ._fastconv import SizeOverflowError, __version__, get_num_threads
from ._params import ENGINES, WINDOW_ENGINES, as_int
from .functional import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
                         conv_transpose3d, fold, unfold, windows)
from .custom import CATALOG, CustomOp, custom_conv1d, custom_conv2d, custom_conv3d, custom_op
from .prepared import PreparedConv, prepare_conv


def set_num_threads(num_threads):
    """Sets the number of threads fastconv's runs use (1 <= num_threads < 2**31). In a process
    forked from a multi-threaded parent it is accepted but changes nothing: see
    get_num_threads."""
    _fastconv.set_num_threads(as_int(num_threads, "num_threads"))


try:
    from . import nn
except ImportError:  # torch is not installed: the numpy front still works
    nn = None

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold", "windows", "set_num_threads",
           "get_num_threads", "nn", "ENGINES", "WINDOW_ENGINES", "SizeOverflowError",
           "__version__", "prepare_conv", "PreparedConv", "custom_conv1d", "custom_conv2d",
           "custom_conv3d", "custom_op", "CustomOp", "CATALOG"]
