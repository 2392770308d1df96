"""notebooks/snr_analysis.ipynb runs top to bottom on a fresh synthetic-set task=snr run."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from experiments.snr import run_snr

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "snr_analysis.ipynb"


def _run_task(compose, out_dir: Path) -> None:
    overrides = [
        "task=snr",
        "model=tiny_animatediff",
        "model.num_frames=4",
        "model.num_inference_steps=2",
        "snr.num_videos=2",
        "snr.num_timesteps=8",
        "snr.progress=false",
        "snr.correlation.num_prompts=1",
        "snr.correlation.num_iters=2",
        "logger=none",
        "device=cpu",
    ]
    run_snr(compose(overrides, out_dir))


def _outputs(nb: nbformat.NotebookNode, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o]


def test_snr_notebook_executes_on_a_synthetic_run(tmp_path, monkeypatch, task_config):
    out = tmp_path / "snr"
    _run_task(task_config, out)
    monkeypatch.setenv("FREQLAB_SNR_RESULTS", str(out))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell
    text = "".join(o["text"] for o in _outputs(nb, "text") if o.get("name") == "stdout")
    assert f"results:  {out}" in text
    assert "synthetic: 2 read, 0 skipped" in text
    assert "max |snr_db - (global_snr_db + power_db + gain_db)|" in text
    images = [o for o in _outputs(nb, "data") if "image/png" in o["data"]]
    assert len(images) >= 3  # heatmap, first-step plot, correlation
