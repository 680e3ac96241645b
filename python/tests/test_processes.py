"""fastconv in other processes: forked children (os.fork, multiprocessing 'fork', DataLoader
workers), spawned processes and DistributedDataParallel training.

GNU OpenMP's thread pool does not survive fork: a child forked while the parent had started
it (fastconv's or torch's multi-threaded runs) would hang in its first multi-threaded region.
fastconv runs such children on one thread (include/fastconv/threading.hpp). Every scenario
runs in a separate process group with a timeout, so a hang fails the test and leaves nothing
behind.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import subprocess_env

SCENARIO_TIMEOUT = 120  # seconds; each scenario takes 2-6 s on an idle machine

# Shared by the scenarios: a problem large enough for two threads, its torch reference, and a
# check that the parent process really is multi-threaded (the OpenMP pool exists) when it forks.
PRELUDE = textwrap.dedent("""
    import os, sys
    import numpy as np, torch, torch.nn.functional as F
    import fastconv

    def problem(seed):
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 16, 24, 24, generator=generator)
        w = torch.randn(16, 16, 3, 3, generator=generator)
        b = torch.randn(16, generator=generator)
        return x, w, b

    def conv_matches_torch(seed, algo="auto"):
        x, w, b = problem(seed)
        y = fastconv.conv2d(x, w, b, padding=1, algo=algo)
        return bool(torch.allclose(y, F.conv2d(x, w, b, padding=1), rtol=1e-4, atol=1e-4))

    def all_match(seed):
        return all(conv_matches_torch(seed, algo) for algo in ("auto", "im2col", "reference"))

    def process_threads():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))

    def torch_on_one_thread():
        # For the references computed in forked children: torch's own OpenMP regions would
        # hang there too (its DataLoader workers make the same call).
        torch.set_num_threads(1)

    def run_parent_with_two_threads():
        fastconv.set_num_threads(2)
        assert all_match(0)
        assert process_threads() > 1, "the parent must be multi-threaded for the test to mean anything"
""")


def run_scenario(tmp_path, body, timeout=SCENARIO_TIMEOUT):
    """Runs PRELUDE + body as a script in its own process group; returns its stdout. A
    timeout kills the whole group (the script and any child it forked) and fails."""
    script = tmp_path / "scenario.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    process = subprocess.Popen([sys.executable, str(script)], env=subprocess_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, cwd=tmp_path)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"the scenario hung (killed after {timeout} s)\n{stdout}\n{stderr}")
    assert process.returncode == 0, f"exit {process.returncode}\n{stdout}\n{stderr}"
    return stdout


def test_os_fork_child_after_two_thread_run(tmp_path):
    out = run_scenario(tmp_path, """
        run_parent_with_two_threads()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            torch_on_one_thread()
            os.close(read_end)
            result = f"{fastconv.get_num_threads()} {all_match(1)}"
            fastconv.set_num_threads(2)  # accepted, changes nothing in this child
            result += f" {fastconv.get_num_threads()} {all_match(2)}"
            os.write(write_end, result.encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            child_result = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print(child_result)
        print(fastconv.get_num_threads(), all_match(3))
    """)
    child, parent = out.strip().splitlines()
    assert child == "1 True 1 True"
    assert parent == "2 True", "the parent keeps its thread count"


def test_os_fork_child_before_any_multi_threaded_run_keeps_the_thread_count(tmp_path):
    out = run_scenario(tmp_path, """
        fastconv.set_num_threads(2)
        assert process_threads() == 1
        pid = os.fork()
        if pid == 0:
            torch_on_one_thread()
            os._exit(0 if fastconv.get_num_threads() == 2 and all_match(1) else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out.strip() == "0"


def test_fork_after_a_torch_only_multi_threaded_run(tmp_path):
    """torch's OpenMP regions start the same libgomp pool: the child must not hang either."""
    out = run_scenario(tmp_path, """
        torch.set_num_threads(2)
        fastconv.set_num_threads(2)
        x, w, b = problem(0)
        F.conv2d(x, w, b)
        assert process_threads() > 1
        pid = os.fork()
        if pid == 0:
            torch_on_one_thread()
            os._exit(0 if fastconv.get_num_threads() == 1 and all_match(1) else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out.strip() == "0"


def test_dataloader_worker_after_two_thread_run(tmp_path):
    out = run_scenario(tmp_path, """
        class Convolved(torch.utils.data.Dataset):
            def __len__(self):
                return 3

            def __getitem__(self, index):
                x, w, b = problem(10 + index)
                y = fastconv.conv2d(x, w, b, padding=1)
                error = (y - F.conv2d(x, w, b, padding=1)).abs().max()
                return y, error, fastconv.get_num_threads()

        run_parent_with_two_threads()
        loader = torch.utils.data.DataLoader(Convolved(), batch_size=None, num_workers=1,
                                             multiprocessing_context="fork", timeout=60)
        for y, error, threads in loader:
            assert y.shape == (2, 16, 24, 24) and float(error) < 1e-4, float(error)
            assert threads == 1
        print("ok", fastconv.get_num_threads(), all_match(4))
    """)
    assert out.strip() == "ok 2 True"


def test_multiprocessing_fork_and_spawn(tmp_path):
    out = run_scenario(tmp_path, """
        import multiprocessing

        def worker(seed):
            fastconv.set_num_threads(2)
            x, w, b = problem(seed)
            return fastconv.conv2d(x, w, b, padding=1).numpy(), fastconv.get_num_threads()

        if __name__ == "__main__":
            run_parent_with_two_threads()
            for method, threads in (("fork", 1), ("spawn", 2), ("forkserver", 2)):
                with multiprocessing.get_context(method).Pool(1) as pool:
                    y, child_threads = pool.apply_async(worker, (5,)).get(timeout=60)
                x, w, b = problem(5)
                assert np.allclose(y, F.conv2d(x, w, b, padding=1).numpy(), rtol=1e-4, atol=1e-4)
                assert child_threads == threads, (method, child_threads)
                print(method, "ok")
    """)
    assert out.split() == ["fork", "ok", "spawn", "ok", "forkserver", "ok"]


DDP_SCRIPT = """
    import socket, tempfile
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel

    STEPS = 6

    def model():
        torch.manual_seed(0)  # the same initial parameters on every rank
        return torch.nn.Sequential(
            fastconv.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
            fastconv.nn.Conv2d(8, 8, 3, stride=2, groups=2), torch.nn.ReLU(),
            fastconv.nn.ConvTranspose2d(8, 4, 2, stride=2), torch.nn.Flatten(),
            torch.nn.Linear(4 * 14 * 14, 1))

    def rank_main(rank, world, port, directory):
        torch.set_num_threads(1)
        fastconv.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
        net = DistributedDataParallel(model())
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        generator = torch.Generator().manual_seed(100 + rank)  # each rank its own data
        x = torch.randn(4, 3, 15, 15, generator=generator)
        target = torch.randn(4, 1, generator=generator)
        losses = []
        for step in range(STEPS):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), target)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        torch.save({"state": net.module.state_dict(), "losses": losses},
                   os.path.join(directory, f"rank{rank}.pt"))
        dist.destroy_process_group()

    def free_port():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    if __name__ == "__main__":
        directory = tempfile.mkdtemp(dir=".")
        mp.spawn(rank_main, args=(2, free_port(), directory), nprocs=2, join=True)
        results = [torch.load(os.path.join(directory, f"rank{r}.pt")) for r in range(2)]
        for name, value in results[0]["state"].items():
            assert torch.equal(value, results[1]["state"][name]), name
        initial = model().state_dict()
        assert any(not torch.equal(initial[k], v) for k, v in results[0]["state"].items())
        for result in results:
            assert result["losses"][-1] < result["losses"][0], result["losses"]
        print("ok")
"""


@pytest.mark.skipif(not torch.distributed.is_available() or
                    not torch.distributed.is_gloo_available(),
                    reason="this torch build has no torch.distributed gloo backend")
def test_distributed_data_parallel_gloo_two_processes(tmp_path):
    """Two spawned ranks train a fastconv.nn model with DDP (gloo, localhost): their
    parameters stay identical (gradients are averaged) and each rank's loss decreases."""
    out = run_scenario(tmp_path, DDP_SCRIPT)
    assert out.strip().endswith("ok")
