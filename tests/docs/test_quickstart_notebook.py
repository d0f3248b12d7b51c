"""docs/examples/quickstart.ipynb is executed (nbclient, a fresh ipykernel, offline), so it
never rots: every cell runs without an error and shows what its markdown promises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "quickstart.ipynb"


def _outputs(cell) -> tuple[str, set[str]]:
    """A code cell's printed text and the MIME types of its rich outputs."""
    text, kinds = "", set()
    for output in cell.get("outputs", []):
        text += output.get("text", "")
        kinds |= set(output.get("data", {}))
        text += output.get("data", {}).get("text/html", "")
    return text, kinds


@pytest.mark.slow
def test_quickstart_notebook_runs_end_to_end():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (dev extra)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (dev extra)")

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    started = time.perf_counter()
    # The kernel inherits this process's environment: offline, and the suite's private cache.
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    seconds = time.perf_counter() - started
    print(f"quickstart notebook executed in {seconds:.1f} s")

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    shown = {cell.source.splitlines()[-1]: _outputs(cell) for cell in code}
    text, kinds = shown["result"]
    assert "text/html" in kinds and text.count("<img ") == 2  # reference and sample grid
    assert "image/png" in shown["show(run.compare(6, seed=0))"][1]
    assert "samples: (6, 3, 32, 32)" in shown["show(run.compare(6, seed=0))"][0]
    evaluation = shown['    print(f"{name:24s} {value:.4f}")'][0]
    assert "diversity_lpips" in evaluation and "target_clip_image" in evaluation
    text, kinds = shown["translation"]
    assert "text/html" in kinds and text.count("<img ") == 3
    grid_cell = "show(translation.grid())  # input | source reconstruction | adapted"
    assert "image/png" in shown[grid_cell][1]
