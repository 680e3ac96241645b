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
            counts[type(error).__name__] += 1
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
            counts[type(error).__name__] += 1
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
