"""notebooks/results.ipynb runs top to bottom on a sweep and draws its tables and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "results.ipynb"
DINO = "dino_consistency[pixel]"


def _job(job: Path, cache: Path, method: str, gain: float) -> None:
    """A results file like the runner's: 8 prompts, 3 passes, with comparison GIFs."""
    from PIL import Image

    rng = np.random.default_rng(len(method))
    rows = []
    for i in range(8):
        key = f"{method}{i:04d}"
        gif = cache / key / "iter0_vs_iter2.gif"
        gif.parent.mkdir(parents=True, exist_ok=True)
        frames = [Image.new("RGB", (16, 8), (30 * i, 60 * t, 90)) for t in range(3)]
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=125, loop=0)
        base = 80 + 5 * np.sin(i)
        for k in range(3):
            rows.append(
                dict(sample_key=key, prompt_id=f"ucf101/C{i}", prompt=f"prompt {i}", seed=0)
                | dict(is_final=k == 2, model="tiny_animatediff", dataset="ucf101", method=method)
                | dict(d_s=0.25, d_t=0.25, order=4, num_iters=3, fast_sampling=False)
                | dict(variance_preserving=False, rng="per_sample", freeu=False, b1=None, b2=None)
                | dict(s1=None, s2=None, freeu_variant=None, freeu_stages=None, num_frames=8)
                | dict(height=32, width=32, num_inference_steps=10, guidance_scale=7.5)
                | dict(dtype="auto", iteration=k, steps=10)
                | {DINO: base + gain * k + rng.normal(0, 0.5) * (k > 0)}
                | dict(motion=0.2 - 0.02 * k, video_path=str(gif.parent / f"iter{k}.mp4"))
                | dict(comparison_path=str(gif))
            )
    job.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(job / "results.parquet", index=False)


def test_results_notebook_runs_on_a_sweep(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    _job(tmp_path / "sweep" / "0", tmp_path / "cache", "gaussian", 3.0)
    _job(tmp_path / "sweep" / "1", tmp_path / "cache", "box", 1.0)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("FREQLAB_SWEEP", str(tmp_path / "sweep"))  # the kernel inherits them
    monkeypatch.setenv("FREQLAB_WRITE_REPORT", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = [k for o in outputs for k in o.get("data", {})]
    markdown = "".join(
        o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})
    )
    assert "Baseline vs FreeInit" in markdown and "+ FreeInit (method=box)" in markdown
    assert "Ablation (method, d_s" not in markdown and "Ablation (method)" in markdown
    assert kinds.count("image/png") == 2  # metric vs iteration, consistency vs motion
    assert kinds.count("image/gif") >= 2  # the gallery's videos
    assert (tmp_path / "sweep" / "report" / "report.html").is_file()
