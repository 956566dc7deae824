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
    assert lines[0].startswith("BLAS pinned to one thread (") and "NOT pinned" not in lines[0]
    cells = lambda line: re.split(r"\s{2,}", line.strip())  # noqa: E731
    assert cells(lines[1]) == ["function", "n", "m", "passes fwd/rev", "pred fwd", "pred rev", "forward",
                               "reverse", "mixed", "fwd/rev", "rule", "auto", "rule ok?", "auto ok?",
                               "mem fwd", "mem rev"]
    rows = [cells(line) for line in lines[3:] if line.startswith(("two-layer", "chain"))]
    assert len(rows) == 2 * 2 * 2          # two functions x n in {4, 64} x m in {4, 64}
    for row in rows:
        n, m, rule, auto = int(row[1]), int(row[2]), row[10], row[11]
        assert row[3] == f"{n}/{m}"
        assert rule == ("forward" if n < m else "reverse")
        assert auto in ("forward", "reverse", "mixed")
        assert row[12] in ("yes", "~tie", "MISS") and row[13] in ("yes", "~tie", "MISS")
        assert re.fullmatch(r"[\d.]+ (us|ms) \([+-]\d+%\)", row[6]), row[6]   # best (spread)
        assert float(row[9]) > 0
    summary = [line for line in lines if line.startswith("auto chose the faster mode on ")]
    assert len(summary) == 1
    assert re.match(r"auto chose the faster mode on \d+ of 8 shapes, and on \d+ of \d+ where the modes "
                    r"differ by more than 1.5x", summary[0])
    assert "The document's rule (forward iff n < m) chose the faster mode on" in proc.stdout
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
