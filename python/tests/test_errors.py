"""Bad calls raise TypeError / ValueError with a message naming the problem, never crash, and
never write into the output of a failed call."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import fastconv
from conftest import subprocess_env

ALL_CONVS = [fastconv.conv1d, fastconv.conv2d, fastconv.conv3d, fastconv.conv_transpose1d,
             fastconv.conv_transpose2d, fastconv.conv_transpose3d]
IDS = [f.__name__ for f in ALL_CONVS]


def _dims(function):
    return int(function.__name__[-2])


def _transposed(function):
    return function.__name__.startswith("conv_transpose")


def _operands(function, dtype=np.float32, cin=4, cout=4, spatial=5, kernel=3, groups=1):
    dims = _dims(function)
    x = np.ones((1, cin) + (spatial,) * dims, dtype)
    if _transposed(function):
        w = np.ones((cin, cout // groups) + (kernel,) * dims, dtype)
    else:
        w = np.ones((cout, cin // groups) + (kernel,) * dims, dtype)
    return x, w, np.ones(cout, dtype)


def _both_kinds(x, w, b):
    """the numpy operands and the same as torch tensors"""
    t = tuple(None if a is None else torch.from_numpy(a) for a in (x, w, b))
    return [(x, w, b), t]


# ---------------------------------------------------------------------------------------------
# TypeError: dtypes, kinds, devices


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.int64, np.complex64])
def test_unsupported_dtype_is_type_error(function, dtype):
    x, w, b = _operands(function, dtype)
    for xx, ww, bb in _both_kinds(x, w, b):
        name = str(np.dtype(dtype))
        with pytest.raises(TypeError, match=rf"(?s){name}.*float32 or float64"):
            function(xx, ww, bb)


def test_torch_only_dtypes_are_type_errors():
    for dtype in (torch.float16, torch.bfloat16, torch.int32, torch.bool):
        x = torch.zeros(1, 2, 5, 5, dtype=dtype)
        w = torch.zeros(3, 2, 3, 3, dtype=dtype)
        with pytest.raises(TypeError, match="not supported"):
            fastconv.conv2d(x, w)
        with pytest.raises(TypeError, match="not supported"):
            fastconv.unfold(x, 2)
        with pytest.raises(TypeError, match="not supported"):
            fastconv.windows(x, 2)


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_mixed_dtypes_are_type_errors(function):
    x, w, b = _operands(function)
    for xx, ww, bb in _both_kinds(x, w.astype(np.float64), None):
        with pytest.raises(TypeError, match=r"(?s)float64.*float32|float32.*float64"):
            function(xx, ww, bb)
    for xx, ww, bb in _both_kinds(x, w, b.astype(np.float64)):
        with pytest.raises(TypeError, match="bias"):
            function(xx, ww, bb)
    for xx, ww, bb in _both_kinds(x.astype(np.float64), w, None):
        with pytest.raises(TypeError, match="mixed dtypes"):
            function(xx, ww, bb)


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_numpy_mixed_with_torch_is_type_error(function):
    x, w, b = _operands(function)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    for args in [(x, tw, None), (tx, w, None), (tx, tw, b), (x, w, tb)]:
        with pytest.raises(TypeError, match="numpy arrays or all torch tensors"):
            function(*args)


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_non_cpu_tensor_is_type_error(function):
    x, w, b = _operands(function)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    meta = lambda a: torch.empty(a.shape, device="meta")  # noqa: E731
    for args in [(meta(tx), meta(tw), None), (tx, meta(tw), None), (tx, tw, meta(tb))]:
        with pytest.raises(TypeError, match="(?s)meta.*CPU"):
            function(*args)
    with pytest.raises(TypeError, match="meta"):
        fastconv.unfold(meta(torch.zeros(1, 2, 4, 4)), 2)
    with pytest.raises(TypeError, match="meta"):
        fastconv.fold(meta(torch.zeros(1, 8, 9)), (4, 4), 2)
    with pytest.raises(TypeError, match="meta"):
        fastconv.windows(meta(torch.zeros(1, 2, 4, 4)), 2)


def test_non_array_inputs_are_type_errors():
    w = np.ones((2, 1, 3), np.float32)
    with pytest.raises(TypeError, match="list"):
        fastconv.conv1d([[[1.0] * 5]], w)
    with pytest.raises(TypeError):
        fastconv.conv1d(np.ones((1, 1, 5), np.float32), "weight")
    with pytest.raises(TypeError, match="sparse|dense"):
        fastconv.conv2d(torch.zeros(1, 2, 5, 5).to_sparse(), torch.zeros(3, 2, 3, 3))


def test_non_integer_parameters_are_type_errors():
    x, w, _ = _operands(fastconv.conv2d)
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(x, w, stride=1.5)
    with pytest.raises(TypeError, match="dilation"):
        fastconv.conv2d(x, w, dilation="2")
    with pytest.raises(TypeError, match="groups"):
        fastconv.conv2d(x, w, groups=1.0)


# ---------------------------------------------------------------------------------------------
# ValueError: ranks and shapes


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_wrong_ranks_are_value_errors(function):
    dims = _dims(function)
    x, w, b = _operands(function)
    for xx, ww, bb in _both_kinds(x, w, b):
        with pytest.raises(ValueError, match=f"(?s)input.*{dims + 2} dims"):
            function(xx[None], ww, bb)                      # one dim too many
        with pytest.raises(ValueError, match="input"):
            function(xx[0, 0], ww, bb)                      # one dim too few
        with pytest.raises(ValueError, match=f"(?s)weight.*{dims + 2} dims"):
            function(xx, ww[0], bb)
        with pytest.raises(ValueError, match="weight"):
            function(xx, ww[None], bb)
        with pytest.raises(ValueError, match="bias"):
            function(xx, ww, bb[None])


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_channels_not_divisible_by_groups(function):
    x, w, _ = _operands(function, cin=4, cout=6, groups=2)
    for xx, ww, _ in _both_kinds(x, w, None):
        with pytest.raises(ValueError, match="groups"):
            function(xx, ww, None, groups=3)


def test_out_channels_not_divisible_by_groups():
    x = np.ones((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="groups"):
        fastconv.conv2d(x, np.ones((3, 2, 3, 3), np.float32), groups=2)


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_weight_in_channels_mismatch(function):
    x, w, _ = _operands(function, cin=4)
    bad = w[:3] if _transposed(function) else w[:, :3]
    for xx, ww, _ in _both_kinds(x, np.ascontiguousarray(bad), None):
        with pytest.raises(ValueError, match="channels|weight"):
            function(xx, ww, None)


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_bias_of_wrong_length(function):
    x, w, b = _operands(function, cout=4)
    for length in (3, 5, 1):
        for xx, ww, bb in _both_kinds(x, w, np.ones(length, np.float32)):
            with pytest.raises(ValueError, match=rf"(?s)bias.*{length}"):
                function(xx, ww, bb)


def test_input_spatial_size_zero():
    """(Zero channels are valid: test_zero_channels.py.)"""
    with pytest.raises(ValueError, match="spatial size"):
        fastconv.conv2d(np.ones((1, 2, 0, 5), np.float32), np.ones((3, 2, 1, 1), np.float32),
                        padding=1)


# ---------------------------------------------------------------------------------------------
# ValueError: parameter values


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_bad_parameter_values(function):
    x, w, _ = _operands(function)
    dims = _dims(function)
    transposed = _transposed(function)

    def call(**kwargs):
        return function(x, w, None, **kwargs)

    with pytest.raises(ValueError, match="stride"):
        call(stride=0)
    with pytest.raises(ValueError, match="stride"):
        call(stride=-2)
    with pytest.raises(ValueError, match="stride"):
        call(stride=(1,) * (dims - 1) + (0,))
    with pytest.raises(ValueError, match="padding"):
        call(padding=-1)
    with pytest.raises(ValueError, match="padding"):
        call(padding=((0, 0),) * (dims - 1) + ((0, -1),))
    with pytest.raises(ValueError, match="dilation"):
        call(dilation=0)
    with pytest.raises(ValueError, match="groups"):
        call(groups=0)
    with pytest.raises(ValueError, match="groups"):
        call(groups=-1)
    with pytest.raises(ValueError, match="stride"):
        call(stride=(1,) * (dims + 1))  # wrong number of values
    if transposed:
        with pytest.raises(ValueError, match="output_padding"):
            call(stride=2, output_padding=2)          # not < stride and not < dilation
        with pytest.raises(ValueError, match="output_padding"):
            call(stride=2, output_padding=3, dilation=3)
        with pytest.raises(ValueError, match="output_padding"):
            call(output_padding=-1)
        with pytest.raises(ValueError, match="output_padding"):
            call(output_padding=1)                    # stride 1, dilation 1: no room at all
        with pytest.raises(ValueError, match="output_padding"):
            call(stride=2, output_padding=1, padding="same")


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
def test_empty_output_is_value_error(function):
    dims = _dims(function)
    if _transposed(function):
        x = np.ones((1, 2) + (1,) * dims, np.float32)
        w = np.ones((2, 2) + (2,) * dims, np.float32)
        with pytest.raises(ValueError, match="padding|size"):
            function(x, w, None, 1, 1)  # out = 0 + 2 - 2 = 0
        with pytest.raises(ValueError):
            function(torch.from_numpy(x), torch.from_numpy(w), None, 1, ((0, 2),) * dims)
    else:
        x, w, _ = _operands(function, spatial=4, kernel=5)
        with pytest.raises(ValueError, match="(?s)kernel.*larger"):
            function(x, w)
        with pytest.raises(ValueError, match="larger"):
            function(torch.from_numpy(x), torch.from_numpy(w))
        x, w, _ = _operands(function, spatial=4, kernel=3)
        with pytest.raises(ValueError, match="larger"):
            function(x, w, None, 1, 0, 2)  # dilation 2: extent 5 > 4
        # padding makes it fit: (4 + 2 - 5) // 1 + 1 = 2
        assert function(x, w, None, 1, 1, 2).shape[2:] == (2,) * dims


@pytest.mark.parametrize("padding", ["full", "SAME", "", "same ", "causal"])
def test_bad_padding_strings(padding):
    for function in ALL_CONVS:
        x, w, _ = _operands(function)
        with pytest.raises(ValueError, match="padding"):
            function(x, w, padding=padding)
    with pytest.raises(ValueError, match="padding"):
        fastconv.unfold(np.ones((1, 1, 4, 4)), 2, padding=padding)


def test_bad_padding_structures():
    x, w, _ = _operands(fastconv.conv2d)
    with pytest.raises(ValueError, match="padding"):
        fastconv.conv2d(x, w, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="pair"):
        fastconv.conv2d(x, w, padding=((1, 2, 3), (0, 0)))
    with pytest.raises(ValueError, match="pair"):
        fastconv.conv2d(x, w, padding=((1, 2), 1))
    with pytest.raises(ValueError, match="padding"):
        fastconv.conv2d(x, w, padding=((1, 2),))


def test_bad_algo():
    x, w, _ = _operands(fastconv.conv2d)
    with pytest.raises(ValueError, match="(?s)fft.*reference"):
        fastconv.conv2d(x, w, algo="fft")


@pytest.mark.parametrize("function", ALL_CONVS, ids=IDS)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_stride_zero_with_string_padding_is_value_error(function, padding):
    """stride / dilation checks must not depend on the padding form."""
    x, w, _ = _operands(function)
    for xx, ww, _ in _both_kinds(x, w, None):
        with pytest.raises(ValueError, match="stride"):
            function(xx, ww, None, stride=0, padding=padding)
        with pytest.raises(ValueError, match="dilation"):
            function(xx, ww, None, dilation=0, padding=padding)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_unfold_stride_zero_with_string_padding_is_value_error(padding):
    for x in (np.ones((1, 1, 5, 5)), torch.ones(1, 1, 5, 5, dtype=torch.float64)):
        with pytest.raises(ValueError, match="stride"):
            fastconv.unfold(x, 2, padding=padding, stride=0)
        with pytest.raises(ValueError, match="dilation"):
            fastconv.unfold(x, 2, padding=padding, dilation=0)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_fold_bad_kernel_size_is_value_error(kind):
    """fold must validate kernel_size before using it (division by the kernel volume,
    allocation of C / volume channels)."""
    columns = np.ones((1, 4, 9), np.float32)
    columns = columns if kind == "numpy" else torch.from_numpy(columns)
    for kernel in [0, (0, 2), (2, 0), (-1, 4), (-2, -2), (-4,)]:
        with pytest.raises(ValueError, match="kernel"):
            fastconv.fold(columns, (4, 4) if kernel != (-4,) else (4,), kernel)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_fold_bad_output_size_is_value_error(kind):
    columns = np.ones((1, 4, 9), np.float32)
    columns = columns if kind == "numpy" else torch.from_numpy(columns)
    for output_size in [(-4, 4), (4, -1), (0, 4)]:
        with pytest.raises(ValueError, match="size"):
            fastconv.fold(columns, output_size, 2)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_fold_stride_zero_with_same_padding_is_value_error(kind):
    columns = np.ones((1, 4, 9), np.float32)
    columns = columns if kind == "numpy" else torch.from_numpy(columns)
    with pytest.raises(ValueError, match="stride"):
        fastconv.fold(columns, (4, 4), 2, 1, "same", 0)


def test_set_num_threads_invalid():
    before = fastconv.get_num_threads()
    for bad in (0, -1, -100):
        with pytest.raises(ValueError, match="num_threads"):
            fastconv.set_num_threads(bad)
    assert fastconv.get_num_threads() == before


def test_unfold_fold_windows_errors():
    x = np.ones((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="kernel"):
        fastconv.unfold(x, 0)
    with pytest.raises(ValueError, match="larger"):
        fastconv.unfold(x, 6)
    with pytest.raises(ValueError, match="stride"):
        fastconv.unfold(x, 2, stride=0)
    with pytest.raises(ValueError, match="dilation"):
        fastconv.unfold(x, 2, dilation=0)
    with pytest.raises(ValueError, match="padding"):
        fastconv.unfold(x, 2, padding=-1)
    with pytest.raises(ValueError, match="input"):
        fastconv.unfold(x[0, 0, 0], (2, 2))
    with pytest.raises(ValueError, match="multiple"):
        fastconv.fold(np.ones((1, 7, 16), np.float32), (5, 5), 2)
    with pytest.raises(ValueError, match="shape"):
        fastconv.fold(np.ones((1, 8, 15), np.float32), (5, 5), 2)
    with pytest.raises(ValueError, match="larger"):
        fastconv.windows(x, 6)
    with pytest.raises(ValueError, match="stride"):
        fastconv.windows(x, 2, 0)
    with pytest.raises(ValueError, match="dilation"):
        fastconv.windows(x, 2, 1, 0)
    with pytest.raises(ValueError, match="input"):
        fastconv.windows(x[0], (2, 2))


# ---------------------------------------------------------------------------------------------
# every argument of every public function: None, other types, integers beyond 64 bits, algo

X2 = torch.ones(1, 2, 6, 6)
W2 = torch.ones(3, 2, 3, 3)
COLUMNS = torch.ones(1, 8, 25)  # fold's input for output_size (6, 6), kernel_size 2



def _conv_call(function):
    """function(**overrides) on valid 1-D/2-D/3-D operands (overrides replace arguments)."""
    dims = _dims(function)
    channels = (2, 3) if _transposed(function) else (3, 2)

    def call(**overrides):
        arguments = {"input": torch.ones((1, 2) + (6,) * dims),
                     "weight": torch.ones(channels + (3,) * dims)}
        return function(**{**arguments, **overrides})
    return call


# every public function, by name, as a call taking **overrides of valid default arguments
PUBLIC_CALLS = {
    **{f.__name__: _conv_call(f) for f in ALL_CONVS},
    "unfold": lambda **o: fastconv.unfold(**{"input": X2, "kernel_size": 2, **o}),
    "fold": lambda **o: fastconv.fold(**{"input": COLUMNS, "output_size": (6, 6),
                                         "kernel_size": 2, **o}),
    "windows": lambda **o: fastconv.windows(**{"input": X2, "kernel_size": 2, **o}),
    "prepare_conv": lambda **o: fastconv.prepare_conv(**{"input": X2, "weight": W2, **o}),
}
INT_ARGUMENTS = {  # the integer arguments each function takes
    **{f.__name__: ("stride", "padding", "dilation", "groups")
       + (("output_padding",) if _transposed(f) else ()) for f in ALL_CONVS},
    "unfold": ("kernel_size", "stride", "padding", "dilation"),
    "fold": ("output_size", "kernel_size", "stride", "padding", "dilation"),
    "windows": ("kernel_size", "stride", "dilation"),
    "prepare_conv": ("stride", "padding", "dilation", "groups"),
}
ARRAY_ARGUMENTS = {
    **{f.__name__: ("input", "weight") for f in ALL_CONVS},
    "unfold": ("input",), "fold": ("input",), "windows": ("input",),
    "prepare_conv": ("input", "weight"),
}


def test_public_calls_are_valid_as_written():
    for name, call in PUBLIC_CALLS.items():
        assert call() is not None, name


@pytest.mark.parametrize("function", PUBLIC_CALLS)
def test_none_and_non_arrays_are_type_errors_naming_the_argument(function):
    for argument in ARRAY_ARGUMENTS[function]:
        for bad in (None, 3, "x", [[1.0, 2.0]]):
            label = "None" if bad is None else type(bad).__name__
            with pytest.raises(TypeError, match=rf"^{argument}: expected a numpy array or a torch "
                                                rf"tensor, got {label}$"):
                PUBLIC_CALLS[function](**{argument: bad})
    with pytest.raises(TypeError, match="^input: expected a numpy array or a torch tensor, got None"):
        fastconv.prepare_conv(X2, W2)(None)


@pytest.mark.parametrize("function", PUBLIC_CALLS)
@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1, 10 ** 30])
def test_integers_beyond_64_bits_name_the_argument(function, value):
    """Any int beyond int64 in any integer argument, alone or inside a tuple or a (begin, end)
    pair: SizeOverflowError (an OverflowError and a ValueError) naming the argument."""
    dims = int(function[-2]) if function.startswith("conv") else 2
    for argument in INT_ARGUMENTS[function]:
        forms = [value]
        if argument != "groups":
            forms.append((1,) * (dims - 1) + (value,))
        if argument == "padding":
            forms.append(((0, 0),) * (dims - 1) + ((0, value),))
        for form in forms:
            with pytest.raises(fastconv.SizeOverflowError, match=rf"^{argument} = {value} does "
                                                                 "not fit in 64 bits"):
                PUBLIC_CALLS[function](**{argument: form})
    with pytest.raises(fastconv.SizeOverflowError, match="num_threads"):
        fastconv.set_num_threads(value)


def test_size_overflow_error_is_both_overflow_and_value_error():
    assert issubclass(fastconv.SizeOverflowError, OverflowError)
    assert issubclass(fastconv.SizeOverflowError, ValueError)
    # the library's own overflow checks (sizes that fit 64 bits, sums that do not) raise it too
    with pytest.raises(fastconv.SizeOverflowError, match="padded size.*overflows 64-bit"):
        fastconv.conv2d(X2, W2, padding=2 ** 62)
    with pytest.raises(fastconv.SizeOverflowError, match="kernel extent.*overflows 64-bit"):
        fastconv.conv2d(X2, W2, dilation=2 ** 62)
    with pytest.raises(ValueError, match="element count"):
        fastconv.fold(COLUMNS, (2 ** 62, 6), 2)  # before allocating the result


def test_set_num_threads_beyond_int_is_value_error():
    before = fastconv.get_num_threads()
    with pytest.raises(ValueError, match=r"num_threads = 1099511627776; expected 1 <= "):
        fastconv.set_num_threads(2 ** 40)
    with pytest.raises(TypeError, match="num_threads must be an int, got NoneType"):
        fastconv.set_num_threads(None)
    with pytest.raises(TypeError, match="num_threads must be an int, got float"):
        fastconv.set_num_threads(2.0)
    assert fastconv.get_num_threads() == before


ALGO_CALLS = {**{name: call for name, call in PUBLIC_CALLS.items() if name != "windows"},
              "nn.Conv2d": lambda **o: fastconv.nn.Conv2d(2, 3, 3, **o),
              "nn.ConvTranspose3d": lambda **o: fastconv.nn.ConvTranspose3d(2, 3, 3, **o)}


@pytest.mark.parametrize("function", ALGO_CALLS)
def test_bad_algo_lists_the_valid_names(function):
    allowed = fastconv.WINDOW_ENGINES if function in ("unfold", "fold") else fastconv.ENGINES
    names = ", ".join(repr(name) for name in allowed)
    for bad in (None, 3, b"auto", ["auto"]):
        with pytest.raises(TypeError, match=r"algo must be a str") as error:
            ALGO_CALLS[function](algo=bad)
        assert names in str(error.value) and "0x" not in str(error.value)
    for bad in ("Auto", "fft", ""):
        with pytest.raises(ValueError, match=rf"algo = '{bad}' is not an engine") as error:
            ALGO_CALLS[function](algo=bad)
        assert names in str(error.value)


@pytest.mark.parametrize("algo", fastconv.ENGINES)
def test_unfold_and_fold_take_only_their_engines(algo):
    """unfold / fold run on the reference loops and im2col's transforms; the other engines
    are refused, listing the ones that apply (the list: fastconv.WINDOW_ENGINES, from the
    library)."""
    assert set(fastconv.WINDOW_ENGINES) == {"auto", "reference", "im2col"}
    if algo in fastconv.WINDOW_ENGINES:
        torch.testing.assert_close(fastconv.unfold(X2, 2, algo=algo),
                                   torch.nn.functional.unfold(X2, 2))
        torch.testing.assert_close(fastconv.fold(COLUMNS, (6, 6), 2, algo=algo),
                                   torch.nn.functional.fold(COLUMNS, (6, 6), 2))
        return
    for call in (lambda: fastconv.unfold(X2, 2, algo=algo),
                 lambda: fastconv.fold(COLUMNS, (6, 6), 2, algo=algo)):
        with pytest.raises(ValueError, match=rf"algo = '{algo}' does not apply to (un)?fold; "
                                             r"expected one of 'auto', 'reference', 'im2col'"):
            call()


@pytest.mark.parametrize("kind,python_type", [("invalid_argument", ValueError),
                                              ("unsupported_dtype", TypeError),
                                              ("overflow", fastconv.SizeOverflowError),
                                              ("engine_declined", ValueError),
                                              ("out_of_memory", MemoryError)])
def test_library_error_kinds_map_to_python_types(kind, python_type):
    """Every fastconv::Error kind becomes one Python type, with the library's message."""
    from fastconv import _fastconv
    with pytest.raises(python_type) as error:
        _fastconv._raise_library_error(kind, f"conv_forward: a {kind} message")
    assert type(error.value) is python_type
    assert str(error.value) == f"conv_forward: a {kind} message"


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_result_too_large_for_memory_is_memory_error(kind):
    """A result that cannot be allocated (2**48 bytes: beyond any x86-64 address space) is a
    MemoryError naming its shape, for numpy and torch (torch itself raises RuntimeError)."""
    size = 2 ** 23 + 2
    if kind == "numpy":
        x = np.broadcast_to(np.zeros(1, np.float32).reshape(1, 1, 1, 1), (1, 1, size, size))
        w = np.ones((1, 1, 3, 3), np.float32)
    else:
        x = torch.zeros(1, 1, 1, 1).expand(1, 1, size, size)
        w = torch.ones(1, 1, 3, 3)
    with pytest.raises(MemoryError, match=r"result of shape \(1, 1, 8388608, 8388608\)"):
        fastconv.conv2d(x, w)


# ---------------------------------------------------------------------------------------------
# never a crash


FUZZ_SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np, torch
    import fastconv
    rng = np.random.default_rng(int(sys.argv[1]))
    functions = [fastconv.conv1d, fastconv.conv2d, fastconv.conv3d, fastconv.conv_transpose1d,
                 fastconv.conv_transpose2d, fastconv.conv_transpose3d]
    counts = {"ok": 0, "TypeError": 0, "ValueError": 0}
    unexpected = []
    for trial in range(400):
        function = functions[trial % 6]
        dims = int(function.__name__[-2])
        rank = dims + 2 + int(rng.choice([0, 0, 0, -1, 1, -2]))
        x = rng.standard_normal(tuple(int(v) for v in rng.integers(0, 5, max(rank, 0))))
        wrank = dims + 2 + int(rng.choice([0, 0, 0, -1, 1]))
        w = rng.standard_normal(tuple(int(v) for v in rng.integers(0, 4, wrank)))
        b = rng.standard_normal(int(rng.integers(0, 5))) if rng.random() < 0.5 else None
        dtype = rng.choice(["float32", "float64", "float64", "float16", "int32"])
        x = x.astype(dtype)
        w = w.astype(dtype if rng.random() < 0.9 else "float32")
        if b is not None:
            b = b.astype(dtype)
        if rng.random() < 0.5:
            x, w = torch.from_numpy(x), torch.from_numpy(w)
            b = None if b is None else torch.from_numpy(b)
        value = lambda low, high: int(rng.integers(low, high))
        kwargs = dict(stride=value(-1, 4), dilation=value(-1, 4), groups=value(-1, 4))
        kwargs["padding"] = rng.choice(["int", "same", "valid", "bad", "pairs"])
        if kwargs["padding"] == "int":
            kwargs["padding"] = value(-1, 4)
        elif kwargs["padding"] == "pairs":
            kwargs["padding"] = tuple((value(-1, 3), value(-1, 3)) for _ in range(dims))
        if function.__name__.startswith("conv_transpose"):
            kwargs["output_padding"] = value(-1, 4)
        kwargs["algo"] = str(rng.choice(["auto", "reference", "im2col"]))
        try:
            out = function(x, w, b, **kwargs)
            assert np.isfinite(np.asarray(out)).all()
            counts["ok"] += 1
        except (TypeError, ValueError) as error:
            assert str(error), "empty error message"
            counts["TypeError" if isinstance(error, TypeError) else "ValueError"] += 1
        except Exception as error:
            shapes = [None if a is None else (str(a.dtype), tuple(a.shape), type(a).__name__)
                      for a in (x, w, b)]
            unexpected.append(f"{function.__name__}{tuple(shapes)} {kwargs}: "
                              f"{type(error).__name__}: {error}")
    # window operations
    for trial in range(600):
        op = ("unfold", "fold", "windows")[trial % 3]
        dims = int(rng.integers(1, 4))
        value = lambda low, high: int(rng.integers(low, high))
        def sizes():
            return tuple(value(-1, 4) for _ in range(dims)) if rng.random() < 0.8 else value(-1, 4)
        kernel, stride, dilation = sizes(), sizes(), value(-1, 4)
        padding = str(rng.choice(["int", "same", "valid", "pairs"]))
        if padding == "int":
            padding = value(-1, 3)
        elif padding == "pairs":
            padding = tuple((value(-1, 3), value(-1, 3)) for _ in range(dims))
        extra_rank = int(rng.choice([0, 0, 0, -1, 1]))
        if op == "fold":
            output_size = tuple(value(-1, 6) for _ in range(dims))
            x = rng.standard_normal(tuple(value(0, 20) for _ in range(3 + extra_rank)))
        else:
            output_size = None
            x = rng.standard_normal(tuple(value(0, 5) for _ in range(dims + 2 + extra_rank)))
        if rng.random() < 0.5:
            x = torch.from_numpy(x)
        try:
            if op == "unfold":
                out = fastconv.unfold(x, kernel, dilation, padding, stride)
            elif op == "fold":
                out = fastconv.fold(x, output_size, kernel, dilation, padding, stride)
            else:
                out = fastconv.windows(x, kernel, stride, dilation)
            assert np.isfinite(np.asarray(out)).all()
            counts["ok"] += 1
        except (TypeError, ValueError) as error:
            assert str(error), "empty error message"
            counts["TypeError" if isinstance(error, TypeError) else "ValueError"] += 1
        except Exception as error:
            unexpected.append(f"{op}({type(x).__name__}{tuple(x.shape)}, output_size="
                              f"{output_size}, kernel={kernel}, dilation={dilation}, "
                              f"padding={padding}, stride={stride}): "
                              f"{type(error).__name__}: {error}")
    print("\n".join(unexpected))
    print(counts)
""")


@pytest.mark.parametrize("seed", [1, 2])
def test_random_bad_calls_never_crash(seed):
    """Random, mostly invalid calls in a separate process: each either returns finite values
    or raises TypeError / ValueError with a message; the process must exit normally."""
    result = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, str(seed)], env=subprocess_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    counts = eval(lines[-1])  # noqa: S307 - our own output
    unexpected = lines[:-1]
    assert not unexpected, (f"{len(unexpected)} calls raised neither TypeError nor ValueError, "
                            "e.g.:\n" + "\n".join(unexpected[:12]))
    assert counts["ok"] > 0 and counts["TypeError"] > 0 and counts["ValueError"] > 0, counts
