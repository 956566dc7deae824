"""Regenerate the notebooks from their py:percent twins and execute them, storing the outputs.

    python notebooks/build.py                 # every NN_*.py in this folder
    python notebooks/build.py 02_forward_vs_reverse 03_memory

Each notebook is read from its .py (jupytext), executed top to bottom in a fresh python3 kernel whose
working directory is this folder, and written back as .ipynb with its outputs, and as .py again, so the
pair stays in sync. Set AUTODIFF_NOTEBOOK_SMALL=1 for a quick run with small sizes (the test suite does);
the stored notebooks are built at full size.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def use_this_interpreter_as_kernel(root: Path) -> None:
    """Make the "python3" kernel run this interpreter: a kernel spec under JUPYTER_PATH outranks others."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")]))


def build(stem: str, timeout: int = 1200) -> float:
    """Execute notebooks/<stem>.py and write <stem>.ipynb (with outputs) and <stem>.py; return seconds."""
    nb = jupytext.read(HERE / f"{stem}.py")
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    # The kernel imports the project from the repository root even when it is not installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}})
    client.execute()
    seconds = time.perf_counter() - start
    jupytext.write(nb, HERE / f"{stem}.ipynb", fmt="ipynb")
    jupytext.write(nb, HERE / f"{stem}.py", fmt="py:percent")
    return seconds


def main(argv: list[str]) -> None:
    stems = [a.removesuffix(".py").removesuffix(".ipynb") for a in argv] or sorted(
        p.stem for p in HERE.glob("[0-9][0-9]_*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        use_this_interpreter_as_kernel(Path(tmp))
        for stem in stems:
            print(f"{stem}: executed in {build(stem):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
