"""bench/python_recipes_bench.py (scripts/bench.sh --python) in its --quick mode: it runs to the
end on tiny inputs, prints a row for every contender, checks them all against F.conv2d (no
mismatch), measures memory in fresh processes and writes its JSON and both plots."""

import json
import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "bench" / "python_recipes_bench.py"
CONTENDERS = ("naive loops", "unfold+matmul", "torch.einsum", "numpy im2col", "numpy einsum",
              "F.conv2d", "fastconv (torch)", "fastconv (numpy)")


def test_quick_run_prints_every_contender(tmp_path):
    out_json = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out_json),
                          "--plot-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert run.returncode == 0, run.stdout + run.stderr
    table_lines = [line.strip() for line in run.stdout.splitlines()]
    for name in CONTENDERS:
        assert any(line.startswith(name + " ") for line in table_lines), (name, run.stdout)
    assert "0 mismatched" in run.stdout, run.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert {row["contender"] for row in rows} == set(CONTENDERS)
    assert all(row["status"] == "ok" and row["median_ms"] > 0 for row in rows), rows
    largest = max(row["size"] for row in rows)
    assert all(row["peak_mib"] is not None for row in rows if row["size"] == largest), rows
    for name in ("runtime_vs_size.png", "memory_vs_size.png"):
        assert (tmp_path / name).stat().st_size > 0
