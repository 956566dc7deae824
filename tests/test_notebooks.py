"""The notebooks are executed documentation: each runs top to bottom, and its two forms agree.

Every notebook in notebooks/ is executed in a fresh python3 kernel with AUTODIFF_NOTEBOOK_SMALL=1 (the
notebooks read it and shrink their sizes), so a failing cell fails the suite. Each NN_name.ipynb is paired
(jupytext) with NN_name.py in py:percent form; the two must hold the same cells, and the stored
.ipynb must carry the outputs of a complete run (so it reads on a code host).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
STEMS = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = [
    "01_gradient_tape", "02_forward_vs_reverse", "03_memory", "04_higher_order", "05_primitives_and_testing",
    "06_sparsity", "07_ode_sensitivities",
]
# The seed walkthrough has no sizes to shrink and nothing to plot; the others measure and plot.
MEASURING = set(EXPECTED) - {"01_gradient_tape"}


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_notebook_of_the_issue_is_there_and_paired():
    paired = {p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")} & set(STEMS)
    assert sorted(paired) == EXPECTED


@pytest.mark.parametrize("stem", STEMS)
def test_ipynb_and_py_have_the_same_cells(stem):
    stored = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
    text = jupytext.read(NOTEBOOK_DIR / f"{stem}.py")
    assert _cells(text) == _cells(stored), (
        f"{stem}.py and {stem}.ipynb differ: run `python notebooks/build.py {stem}` after editing the .py")
    assert stored.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"


@pytest.mark.parametrize("stem", STEMS)
def test_stored_notebook_carries_the_outputs_of_a_clean_run(stem):
    nb = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{stem}.ipynb was not executed top to bottom once"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{stem}.ipynb stores an error output: {errors[0].get('ename')}"
    if stem in MEASURING:
        assert any(o.output_type == "display_data" and "image/png" in o.get("data", {})
                   for c in code for o in c.outputs), f"{stem} shows no plot"
        source = "\n".join(c.source for c in code)
        assert "AUTODIFF_NOTEBOOK_SMALL" in source, f"{stem} ignores the small setting"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A "python3" kernel spec that runs THIS interpreter, found first through JUPYTER_PATH.

    Without it, Jupyter could start another installation's python3 kernel (a user-level kernel spec
    outranks the virtual environment's), which would test a different interpreter and packages.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
    }))
    return root


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_executes_top_to_bottom(stem, monkeypatch, kernel_dir):
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(kernel_dir),
                                                                     os.environ.get("JUPYTER_PATH")])))
    monkeypatch.setenv("AUTODIFF_NOTEBOOK_SMALL", "1")
    # The kernel inherits this environment: it imports the project from the repository root.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip())
