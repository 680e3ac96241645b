"""Compiling generated operations (fastconv._codegen) with the system's C++ compiler, and the
on-disk cache of the results.

One shared library per operation: its source compiled with FASTCONV_CUSTOM_ISA 0 (portable:
the table and the scalar forms; its vector kernels only when the CPU has no better unit) and
with the best ISA of this CPU (1: AVX2 + FMA or 2: AVX-512F, the flags of
cmake/fastconvIsas.cmake; isa_units()), then linked, its table returned by the exported C
function `fastconv_generated_op` (FASTCONV_CUSTOM_OP_EXPORT; the other ISA's entry is null).
The library is loaded with ctypes and never unloaded (InnerOps point into it).

Cache: FASTCONV_CACHE_DIR, else $XDG_CACHE_HOME/fastconv, else ~/.cache/fastconv; one file
<key>.so per operation, key = SHA-256 of (generated source, which holds the expressions and the
parameter names, the fastconv version, the headers' text, the flags and ISA units; not the compiler: a
cached operation loads without one). Both dtypes
use one library (float32 kernels and double scalar forms). Concurrency: a process compiles in a
private temporary directory, then renames the library into place (atomic), under an exclusive
lock on <key>.lock so that two processes compiling one operation do the work once. A file that
fails to load or carries another key is rebuilt. A read-only cache directory is used for
reading; new operations then go to a private temporary directory, with a warning.
"""

import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import _fastconv

ISA_FLAGS = {0: [], 1: ["-mavx2", "-mfma"], 2: ["-mavx512f", "-mavx2", "-mfma"]}
COMMON_FLAGS = ["-std=c++20", "-O2", "-fPIC", "-fvisibility=hidden", "-ffp-contract=fast",
                "-fno-math-errno", "-w"]
SYMBOL = "fastconv_generated_op"
_HEADERS = ("custom.hpp", "inner_op.hpp", "custom/op_kernels.hpp", "custom/op_table.hpp",
            "custom/vector_math.hpp")

_loaded = {}  # key -> (ctypes library, InnerOp)
_lock = threading.Lock()
_private_dir = None


class CompilerNotFoundError(RuntimeError):
    """No C++ compiler: expressions outside the catalog cannot be compiled."""


def include_dir():
    """The directory holding fastconv/custom.hpp: FASTCONV_INCLUDE_DIR, else the package's copy
    (python/CMakeLists.txt and setup.py put it there), else the source tree's."""
    candidates = []
    if os.environ.get("FASTCONV_INCLUDE_DIR"):
        candidates.append(Path(os.environ["FASTCONV_INCLUDE_DIR"]))
    here = Path(__file__).resolve().parent
    candidates += [here / "include", here.parent.parent / "include"]
    for candidate in candidates:
        if all((candidate / "fastconv" / h).is_file() for h in _HEADERS):
            return candidate
    raise RuntimeError("fastconv: cannot find the headers for compiled expressions "
                       "(fastconv/custom.hpp); looked in " + ", ".join(map(str, candidates)) +
                       ". Set FASTCONV_INCLUDE_DIR to the include directory of fastconv's source.")


def compiler():
    """The C++ compiler: $CXX, else c++, g++ or clang++ on PATH."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    for name in names:
        path = shutil.which(name.split()[0])
        if path:
            return [path] + name.split()[1:]
    raise CompilerNotFoundError(
        "fastconv: this operation is not in the precompiled catalog and must be compiled, but no "
        f"C++ compiler was found (tried {', '.join(names)}). Install one with C++20 support, "
        "e.g. `apt-get install g++` (Debian/Ubuntu), or set CXX.")


def cache_dir():
    if os.environ.get("FASTCONV_CACHE_DIR"):
        return Path(os.environ["FASTCONV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastconv"


def isa_units():
    """The ISA units to compile: the portable one (it holds the table and the scalar forms) and
    the best one this CPU has, capped by FASTCONV_MAX_ISA, by the library's rule
    (src/isa/cpu_isa.cpp: avx512f; avx2 and fma). The library runs the best unit linked that the
    CPU allows, so one unit less halves the compilation without slowing the op here."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                          if line.startswith("flags")), [])
    except OSError:
        flags = []
    best = 2 if "avx512f" in flags else 1 if {"avx2", "fma"} <= set(flags) else 0
    cap = {"avx512": 2, "avx2": 1, "scalar": 0}.get(os.environ.get("FASTCONV_MAX_ISA", ""), 2)
    return tuple(sorted({0, min(best, cap)}))


def _key(source):
    digest = hashlib.sha256()
    digest.update(source.encode())
    digest.update(_fastconv.__version__.encode())
    digest.update(repr((COMMON_FLAGS, ISA_FLAGS, isa_units())).encode())
    headers = include_dir() / "fastconv"
    for header in _HEADERS:
        digest.update((headers / header).read_bytes())
    return digest.hexdigest()[:32]


def _load(path, key):
    """(library, InnerOp) of a compiled file, or None if it does not load or is another op."""
    try:
        library = ctypes.CDLL(str(path))
        key_function = getattr(library, SYMBOL + "_key")
        key_function.restype = ctypes.c_char_p
        if key_function().decode() != key:
            return None
        table = getattr(library, SYMBOL)
        table.restype = ctypes.c_void_p
        return library, _fastconv.InnerOp.from_table(table())
    except (OSError, AttributeError):
        return None


def _build(source, key, command, destination):
    """Compiles `source` into the library `destination` (renamed into place at the end)."""
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=destination.parent))
    try:
        unit = work / "op.cpp"
        unit.write_text(source)

        def compile_isa(isa):
            wrapper = work / f"op_isa{isa}.cpp"
            text = f"#define FASTCONV_CUSTOM_ISA {isa}\n"
            if isa == 0 and max(isa_units()) > 0:  # the vector unit runs: no portable kernels
                text += "#define FASTCONV_CUSTOM_PORTABLE_KERNELS 0\n"
            text += "#include \"op.cpp\"\n"
            if isa == 0:
                text += (f'extern "C" __attribute__((visibility("default"))) const char* '
                         f'{SYMBOL}_key() {{ return "{key}"; }}\n')
            wrapper.write_text(text)
            obj = work / f"op_isa{isa}.o"
            run = subprocess.run(command + ISA_FLAGS[isa] + ["-I", str(include_dir()), "-c",
                                                             str(wrapper), "-o", str(obj)],
                                 capture_output=True, text=True)
            if run.returncode:
                raise RuntimeError(f"fastconv: compiling the generated operation failed "
                                   f"({' '.join(command)}):\n{run.stderr[-4000:]}\n"
                                   f"source:\n{source}")
            return obj

        with ThreadPoolExecutor(max_workers=3) as pool:
            objects = list(pool.map(compile_isa, isa_units()))
        library = work / "op.so"
        run = subprocess.run(command + ["-shared", "-o", str(library)] + [str(o) for o in objects],
                             capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"fastconv: linking the generated operation failed:\n"
                               f"{run.stderr[-4000:]}")
        os.replace(library, destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _writable(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _private_cache():
    global _private_dir
    if _private_dir is None:
        _private_dir = Path(tempfile.mkdtemp(prefix="fastconv-ops-"))
    return _private_dir


def load_op(source):
    """The InnerOp of a generated source: from this process' memory, the disk cache, or
    compiled now."""
    key = _key(source)
    with _lock:
        if key in _loaded:
            return _loaded[key][1]
        directory = cache_dir()
        path = directory / f"{key}.so"
        if path.is_file():
            loaded = _load(path, key)
            if loaded is not None:
                _loaded[key] = loaded
                return loaded[1]
        if not _writable(directory):
            warnings.warn(f"fastconv: the cache directory {directory} is not writable; compiled "
                          "operations are kept in a temporary directory for this process only "
                          "(set FASTCONV_CACHE_DIR)", RuntimeWarning, stacklevel=3)
            directory = _private_cache()
            path = directory / f"{key}.so"
        with open(directory / f"{key}.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                loaded = _load(path, key) if path.is_file() else None  # another process built it
                if loaded is None:
                    _build(source, key, compiler() + COMMON_FLAGS, path)
                    loaded = _load(path, key)
                    if loaded is None:
                        raise RuntimeError(f"fastconv: the compiled operation {path} does not load")
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        _loaded[key] = loaded
        return loaded[1]
