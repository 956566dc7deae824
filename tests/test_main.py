"""``python -m autodiff``: the main job runs (quick mode), prints its table and writes its plot."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "autodiff", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_quick_run_prints_table_and_writes_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots" / "cmp.png"
    out.parent.mkdir()
    proc = _run(["--quick", "--grid", "4,64", "--output", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    cells = lambda line: re.split(r"\s{2,}", line.strip())  # noqa: E731
    assert cells(lines[0]) == ["function", "n", "m", "forward", "reverse", "fwd/rev", "auto",
                               "auto faster?", "mem fwd", "mem rev"]
    rows = [cells(line) for line in lines[2:] if line.startswith(("two-layer", "chain"))]
    assert len(rows) == 2 * 2 * 2          # two functions x n in {4, 64} x m in {4, 64}
    for row in rows:
        n, m, auto = int(row[1]), int(row[2]), row[6]
        assert auto == ("forward" if n < m else "reverse")
        assert float(row[5]) > 0
    assert "auto chose the faster mode" in proc.stdout
    assert "[8/8] done" in proc.stderr       # progress was shown
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_default_output_path_is_mode_comparison_png(tmp_path):
    pytest.importorskip("matplotlib")
    proc = _run(["--quick", "--grid", "3", "--functions", "chain"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mode-comparison.png").exists()


def test_help_lists_the_options(tmp_path):
    proc = _run(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    for option in ("--grid", "--output", "--quick", "--functions", "--no-plot"):
        assert option in proc.stdout


def test_bad_grid_is_a_usage_error(tmp_path):
    proc = _run(["--grid", "4,x"], cwd=tmp_path)
    assert proc.returncode == 2 and "--grid" in proc.stderr
