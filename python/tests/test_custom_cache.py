"""The on-disk cache of compiled expressions (fastconv._compile) and of resolutions
(fastconv.custom's records), in fresh processes: cold (one compilation), warm (a load, no
compiler and no sympy needed), corrupted files (rebuilt), unwritable and
read-only directories, no compiler (a clear error), two processes compiling one op at once
(one compilation, both get it)."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

# One operation per test module run, unlike every other test's (a fresh compilation).
COMBINE = "x * w + 0.375 * x * x - w"

SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import fastconv
    from fastconv import _compile
    builds = []
    original = _compile._build
    def counting(*args):
        builds.append(1)
        return original(*args)
    _compile._build = counting
    x = np.arange(2 * 5 * 5, dtype=np.float32).reshape(1, 2, 5, 5) / 50
    w = np.linspace(-1, 1, 2 * 2 * 9, dtype=np.float32).reshape(2, 2, 3, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fastconv.custom_conv2d(x, w, combine=sys.argv[1])
    xp = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[0]  # C, 3, 3, 3, 3
    expected = (np.einsum("cijkl,ockl->oij", xp, w) + 0.375 * np.einsum("cijkl->ij", xp * xp)[None]
                - w.sum(axis=(1, 2, 3))[:, None, None])
    print(json.dumps({"builds": len(builds), "error": float(np.abs(out[0] - expected).max()),
                      "warnings": [str(w.message) for w in caught],
                      "sympy": "sympy" in sys.modules}))
""")


def run(cache_dir, combine=COMBINE, env=None, check=True):
    environment = dict(os.environ, FASTCONV_CACHE_DIR=str(cache_dir), **(env or {}))
    process = subprocess.run([sys.executable, "-c", SCRIPT, combine], env=environment,
                             capture_output=True, text=True, timeout=300)
    if check:
        assert process.returncode == 0, process.stderr
        return json.loads(process.stdout.strip().splitlines()[-1])
    return process


def libraries(directory):
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".so")


def test_cold_warm_corrupted_and_read_only(tmp_path):
    cache = tmp_path / "cache"
    cold = run(cache)
    assert cold["builds"] == 1 and cold["error"] < 1e-4
    (library,) = libraries(cache)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "temporary files left"

    warm = run(cache, env={"CXX": "/nonexistent/c++"})  # a load needs no compiler
    assert warm["builds"] == 0 and warm["error"] < 1e-4
    assert not warm["sympy"], "a cached operation is resolved from its record, without sympy"

    (cache / library).write_bytes(b"not a shared library")
    (record,) = [p for p in cache.iterdir() if p.name.startswith("resolved-")]
    record.write_text("{not json")
    rebuilt = run(cache)
    assert rebuilt["builds"] == 1 and rebuilt["error"] < 1e-4
    assert libraries(cache) == [library]
    assert run(cache)["sympy"] is False  # the record was rewritten

    cache.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only: the cached op still loads
    try:
        before = sorted(p.name for p in cache.iterdir())
        read_only = run(cache)
        assert read_only["builds"] == 0 and read_only["error"] < 1e-4
        assert sorted(p.name for p in cache.iterdir()) == before
    finally:
        cache.chmod(stat.S_IRWXU)


def test_unwritable_cache_dir_compiles_privately_with_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory's parent should be")
    result = run(blocker / "cache")
    assert result["builds"] == 1 and result["error"] < 1e-4
    assert any("not writable" in w for w in result["warnings"])


def test_no_compiler_is_a_clear_error(tmp_path):
    process = run(tmp_path / "cache", env={"CXX": "/nonexistent/c++"}, check=False)
    assert process.returncode != 0
    assert "no C++ compiler was found" in process.stderr and "apt-get install g++" in process.stderr


def test_catalog_ops_need_no_compiler(tmp_path):
    result = run(tmp_path / "cache", combine="-abs(x - w) + 0 * x",
                 env={"CXX": "/nonexistent/c++"}, check=False)
    assert result.returncode == 0, result.stderr  # -|x - w| is abs_diff_sum: precompiled
    assert json.loads(result.stdout.strip().splitlines()[-1])["builds"] == 0


def test_two_processes_compile_one_op_once(tmp_path):
    cache = tmp_path / "cache"
    environment = dict(os.environ, FASTCONV_CACHE_DIR=str(cache))
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT, COMBINE], env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert sum(r["builds"] for r in results) == 1
    assert all(r["error"] < 1e-4 for r in results)
    assert len(libraries(cache)) == 1
