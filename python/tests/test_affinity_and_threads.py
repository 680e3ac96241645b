"""Plans and calls whose CPU set or thread count changes between creation and run (issue 17,
defect 1): a plan prepared while the process may use one CPU is run after it may use all of
them with more threads; every engine that takes the problem gives the right result and, in the
ASan build of the C++ tests (test_threads_workspace), never writes past its workspace."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastconv


def _restore(cpus, threads):
    os.sched_setaffinity(0, cpus)
    fastconv.set_num_threads(threads)


@pytest.mark.parametrize("algo", ["auto", "winograd", "implicit_gemm", "im2col", "reference"])
def test_prepared_on_one_cpu_runs_on_all_with_more_threads(algo):
    cpus, threads = os.sched_getaffinity(0), fastconv.get_num_threads()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(-3, 4, (1, 64, 56, 56)).astype(np.float32))
    w = torch.from_numpy(rng.integers(-3, 4, (64, 64, 3, 3)).astype(np.float32))
    try:
        os.sched_setaffinity(0, {min(cpus)})
        fastconv.set_num_threads(1)
        conv = fastconv.prepare_conv(x, w, padding=1, algo=algo)
        os.sched_setaffinity(0, cpus)
        fastconv.set_num_threads(2 * len(cpus) + 1)
        got = conv(x)
        direct = fastconv.conv2d(x, w, padding=1, algo=algo)
    finally:
        _restore(cpus, threads)
    expected = F.conv2d(x.double(), w.double(), padding=1).float()
    assert torch.equal(got, expected)
    assert torch.equal(direct, expected)
