"""Array handling: numpy arrays and torch CPU tensors in, descriptors for the C++ core out.

A descriptor is (data address, dtype name, shape, strides in elements). Every array reaches the
core through usable(), which makes its memory hold its values: torch tensors with a pending
negation or conjugation (x.is_neg(), x.is_conj(), e.g. torch.complex(a, b).conj().imag) or
without memory (efficient zero tensors) are resolved into real tensors, numpy arrays in a
non-native byte order or not aligned to their item size are copied. descriptor() refuses
anything else. Results are allocated with the input's type (numpy in, numpy out; torch in,
torch out) and in the memory format PyTorch 1.13 gives (conv_result_channels_last).
"""

import ctypes
import math
import os
import weakref

import numpy as np

try:  # torch is optional: numpy users do not need it
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None

SUPPORTED_DTYPES = ("float32", "float64")


def is_torch(array):
    return torch is not None and isinstance(array, torch.Tensor)


def dtype_name(array):
    if is_torch(array):
        return str(array.dtype).replace("torch.", "")
    return array.dtype.name  # "float32" for big-endian float32 too: usable() converts it


def check_array(array, name):
    """Raises TypeError / ValueError for anything the core cannot take."""
    if is_torch(array):
        if array.device.type != "cpu":
            raise TypeError(f"{name}: tensors on device '{array.device}' are not supported; "
                            "fastconv runs on the CPU (move the tensor with .cpu())")
        if array.is_sparse or array.layout != torch.strided:
            raise TypeError(f"{name}: only dense (strided) tensors are supported, got {array.layout}")
    elif not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(array).__name__}")
    if dtype_name(array) not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}: dtype {dtype_name(array)} is not supported; use float32 or float64")


def check_same_kind(arrays, optional=()):
    """(name, array) pairs: each one check_array accepts (None only for the names listed in
    `optional`), all numpy or all torch, of one dtype."""
    for name, array in arrays:
        if array is None and name not in optional:
            raise TypeError(f"{name}: expected a numpy array or a torch tensor, got None")
    present = [(name, a) for name, a in arrays if a is not None]
    for name, array in present:
        check_array(array, name)
    first_name, first = present[0]
    for name, array in present[1:]:
        if is_torch(array) != is_torch(first):
            raise TypeError(f"{name} is a {type(array).__name__} but {first_name} is a "
                            f"{type(first).__name__}; pass all numpy arrays or all torch tensors")
        if dtype_name(array) != dtype_name(first):
            raise TypeError(f"{name} is {dtype_name(array)} but {first_name} is {dtype_name(first)}; "
                            "mixed dtypes are not supported")


def check_out(out, input, function, grad_arrays=()):
    """out= of a functional op, as torch's out=: an array of the input's kind and dtype that the
    core can write in place (its shape is checked against the result's by the caller; overlap
    with the inputs by the core). RuntimeError when autograd would need the result."""
    check_same_kind([("input", input), ("out", out)])
    if is_torch(out):
        if torch.is_grad_enabled() and (out.requires_grad or any(
                a is not None and is_torch(a) and a.requires_grad for a in grad_arrays)):
            raise RuntimeError(f"{function}: out= does not support automatic differentiation "
                               "(an argument requires grad)")
        if _has_lazy_state(out):
            raise ValueError(f"{function}: out has a pending negation, conjugation or no memory "
                             "(out.is_neg(), out.is_conj()); pass a plain tensor")
    elif not out.flags.writeable:
        raise ValueError(f"{function}: out is a read-only numpy array")
    elif not out.dtype.isnative or out.ctypes.data % out.itemsize:
        raise ValueError(f"{function}: out must be in native byte order and aligned to its "
                         f"item size ({out.itemsize} bytes)")


def check_out_shape(out, shape, function):
    if tuple(int(v) for v in out.shape) != tuple(int(v) for v in shape):
        raise ValueError(f"{function}: out has shape {tuple(out.shape)}; the result's is "
                         f"{tuple(int(v) for v in shape)}")


def _has_lazy_state(tensor):
    """True when a tensor's memory does not hold its values as they read."""
    return tensor.is_neg() or tensor.is_conj() or tensor._is_zerotensor()


def usable(array):
    """The array itself when its memory holds its values as the core reads them, else an
    equivalent array that does (see the module docstring). Resolving is differentiable."""
    if is_torch(array):
        if array._is_zerotensor():
            return torch.zeros(array.shape, dtype=array.dtype)
        return array.resolve_neg().resolve_conj()
    if not array.dtype.isnative:
        return element_aligned(array.astype(array.dtype.newbyteorder("=")))
    return element_aligned(array)


def element_aligned(array):
    """A numpy array itself when its data and strides are multiples of its item size (the core
    counts strides in elements and refuses misaligned data), else a contiguous, aligned copy
    (np.ascontiguousarray would return a contiguous misaligned array itself)."""
    itemsize = array.itemsize
    if any(stride % itemsize for stride in array.strides) or \
            array.__array_interface__["data"][0] % itemsize:
        return np.array(array, order="C", copy=True)
    return array


def descriptor(array, reads_values=True):
    """The core's view of an array that went through usable(). reads_values=False: only the
    layout is used (windows), so lazy torch states, which views keep, are allowed."""
    if array is None:
        return None
    if is_torch(array):
        if reads_values and _has_lazy_state(array):
            raise RuntimeError("fastconv internal error: a tensor with a pending negation, "
                               "conjugation or no memory reached the core without usable()")
        return (array.data_ptr(), dtype_name(array), list(array.shape), list(array.stride()))
    if reads_values and not array.dtype.isnative:
        raise RuntimeError("fastconv internal error: a non-native byte order array reached the "
                           "core without usable()")
    itemsize = array.itemsize
    return (array.__array_interface__["data"][0], dtype_name(array), list(array.shape),
            [stride // itemsize for stride in array.strides])


def suggests_channels_last(array):
    """PyTorch's suggest_memory_format(array) == torch.channels_last, for numpy arrays too:
    a 4-D array whose strides order the axes (N, H, W, C) from slowest to fastest. Size-1
    axes are ambiguous and count as contiguous (a (N, 1, H, W) or (K, 1, kH, kW) array made
    channels-last by torch keeps contiguous strides), as in torch's is_channels_last_strides_2d."""
    if array.ndim != 4:
        return False
    sizes = tuple(array.shape)
    strides = array.stride() if is_torch(array) else tuple(s // array.itemsize
                                                            for s in array.strides)
    if strides[1] == 0:
        return False
    smallest = 0
    for axis in (1, 3, 2, 0):
        if sizes[axis] == 0 or strides[axis] < smallest:
            return False
        if axis == 0 and smallest == strides[1]:
            return False
        smallest = strides[axis] * (sizes[axis] if sizes[axis] > 1 else 1)
    return True


def conv_result_channels_last(src, weight, transposed):
    """PyTorch 1.13's memory format for a convolution's results (output, input gradient and
    weight gradient alike), applied to numpy arrays too: channels-last for 2-D convolution
    (4-D operands) when the input or the weight suggests channels-last; contiguous for 1-D,
    3-D and transposed convolution whatever the layouts. `weight` may be given as a bool
    (whether it suggests channels-last)."""
    if transposed or src.ndim != 4:
        return False
    weight_channels_last = weight if isinstance(weight, bool) else suggests_channels_last(weight)
    return weight_channels_last or suggests_channels_last(src)


def _channels_last_strides(shape):
    """Strides (in elements) of a dense (N, spatial..., C) memory order for shape (N, C, ...)."""
    strides = [0] * len(shape)
    step = 1
    for axis in [1] + list(range(len(shape) - 1, 1, -1)) + [0]:
        strides[axis] = step
        step *= max(shape[axis], 1)
    return tuple(strides)


# Results of at least this many bytes are numpy memory from _ResultPool, shared with torch for
# torch results (torch.from_numpy): numpy asks the kernel for transparent huge pages (madvise)
# for large blocks, torch 1.13's allocator does not, and the first write of a fresh 36 MB
# torch.empty costs ~100 ms of 4 KiB page faults on these VMs against ~10 ms. (Such a
# tensor's storage is not resizable: out.resize_() to a larger size raises.)
LARGE_RESULT_BYTES = 1 << 22
_NUMPY_DTYPES = {} if torch is None else {torch.float32: np.float32, torch.float64: np.float64}


class _ResultPool:
    """Memory of large results that were freed, kept for the next result of the same size: a
    fresh 36 MB result otherwise costs the kernel's mapping and zeroing of its pages on every
    call (~9 ms here, 1.5x the convolution), as freed blocks this large go back to the OS.
    Bounded: at most FASTCONV_RESULT_POOL_MB (default 256; 0 turns it off) of idle blocks, the
    oldest dropped first. A block returns here when the last array or tensor using it dies."""

    def __init__(self):
        import collections
        import threading
        try:
            limit = float(os.environ.get("FASTCONV_RESULT_POOL_MB", "256"))
        except ValueError:
            limit = 256.0
        self.limit = int(max(limit, 0.0) * (1 << 20))
        self.idle = collections.OrderedDict()  # id -> (bytes, block), oldest first
        self.idle_bytes = 0
        self.lock = threading.Lock()

    def take(self, nbytes):
        """A uint8 block of exactly nbytes (rounded up to 2 MiB), idle or new."""
        size = -(-nbytes // (1 << 21)) << 21
        with self.lock:
            for key, (block_size, block) in self.idle.items():
                if block_size == size:
                    del self.idle[key]
                    self.idle_bytes -= size
                    return block
        return np.empty(size, dtype=np.uint8)

    def give_back(self, block):
        size = block.nbytes
        if size > self.limit:
            return
        with self.lock:
            self.idle[id(block)] = (size, block)
            self.idle_bytes += size
            while self.idle_bytes > self.limit:
                _, (dropped, _) = self.idle.popitem(last=False)
                self.idle_bytes -= dropped


_pool = None


def _pooled_empty(memory_shape, dtype):
    """An uninitialised array on a pool block (the block comes back when the array dies)."""
    global _pool
    if _pool is None:
        _pool = _ResultPool()
    nbytes = math.prod(memory_shape) * np.dtype(dtype).itemsize
    if _pool.limit == 0:
        return np.empty(memory_shape, dtype=dtype)
    block = _pool.take(nbytes)
    # The result's base: not an ndarray, so numpy's views keep it (they skip ndarray bases that
    # own no memory) and its death, after the last view's, returns the block.
    holder = (ctypes.c_char * nbytes).from_buffer(block)
    weakref.finalize(holder, _pool.give_back, block).atexit = False
    return np.frombuffer(holder, dtype=dtype).reshape(memory_shape)


def _numpy_empty(shape, dtype, channels_last):
    large = np.dtype(dtype).itemsize * math.prod(shape) >= LARGE_RESULT_BYTES
    empty = _pooled_empty if large else np.empty
    if channels_last:  # an (N, spatial..., C) array, transposed
        memory_shape = (shape[0],) + shape[2:] + (shape[1],)
        permutation = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
        return empty(memory_shape, dtype).transpose(permutation)
    return empty(shape, dtype)


def torch_empty(shape, dtype, channels_last=False):
    """An uninitialised tensor (channels-last memory if asked, shape of rank >= 3), in huge
    pages when it is large (LARGE_RESULT_BYTES)."""
    numpy_dtype = _NUMPY_DTYPES.get(dtype)
    if numpy_dtype is not None:
        if math.prod(shape) * np.dtype(numpy_dtype).itemsize >= LARGE_RESULT_BYTES:
            return torch.from_numpy(_numpy_empty(shape, numpy_dtype, channels_last))
    if channels_last:
        return torch.empty_strided(shape, _channels_last_strides(shape), dtype=dtype)
    return torch.empty(shape, dtype=dtype)


def empty_like_layout(template, shape, channels_last=False):
    """An uninitialised result of `shape`, of the template's type and dtype, channels-last in
    memory if asked (a torch result is never a view: autograd forbids in-place changes to views
    made inside a Function, such as ReLU(inplace=True) after a layer); MemoryError when it
    cannot be had (torch raises RuntimeError for that)."""
    shape = tuple(int(v) for v in shape)
    channels_last = channels_last and len(shape) >= 3
    try:
        if is_torch(template):
            return torch_empty(shape, template.dtype, channels_last)
        return _numpy_empty(shape, template.dtype, channels_last)
    except (MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and "memory" not in str(error) and \
                "overflow" not in str(error):
            raise
        raise MemoryError(f"cannot allocate a result of shape {shape} ({dtype_name(template)}): "
                          f"{error}") from None

