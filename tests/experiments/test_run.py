"""End to end through the real entry point: `python run.py ... -m` in a subprocess, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["dataset.limit=2", "model.num_frames=4", "model.num_inference_steps=2", "threads=1"]
SMALL += ["report=false"]  # the report has its own tests; keep these sweeps fast


def _run(args: list[str], root: Path, wandb_mode: str = "disabled") -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE=wandb_mode, OMP_NUM_THREADS="1")
    env["HF_HOME"] = str(root / "hf")  # an empty hub cache: nothing to find, nothing to fetch
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    return subprocess.run(
        # Flags first: argparse takes the overrides as one run of positionals.
        [sys.executable, "run.py", *flags, f"paths.root={root}", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _jobs(sweep: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/job.json"))]


@pytest.mark.parametrize("model", ["tiny_animatediff", "tiny_modelscope"])
def test_sweep_caches_and_resumes(tmp_path, model):
    sweep = [
        "-m",
        f"model={model}",
        "freeinit.method=gaussian,butterworth",
        "freeinit.num_iters=1,2",
        *SMALL,
    ]
    first = _run([*sweep, f"hydra.sweep.dir={tmp_path}/sweep1"], tmp_path, wandb_mode="offline")
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep1").glob("[0-9]*"))
    assert len(jobs) == 4
    for job in jobs:
        frame = pd.read_parquet(job / "results.parquet")
        summary = json.loads((job / "job.json").read_text())
        num_iters = int(frame.num_iters.iloc[0])
        assert len(frame) == 2 * num_iters  # 2 prompts x 1 seed x passes
        assert list(frame.groupby("prompt_id").iteration.max()) == [num_iters - 1] * 2
        assert summary["unet_calls"] == 2 * num_iters  # 1 batch x passes x 2 steps
        assert {"dino_consistency[pixel]", "motion", "temporal_flicker"} <= set(frame.columns)
        assert all(Path(p).exists() for p in frame.video_path)
        assert list((job / "wandb").glob("offline-run-*/run-*.wandb"))
    # num_iters=1 and 2 share their baseline pass? No: the key includes num_iters, so 4 jobs x 2.
    assert sum(j["generated"] for j in _jobs(tmp_path / "sweep1")) == 8

    again = _run([*sweep, f"hydra.sweep.dir={tmp_path}/sweep2"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [j["unet_calls"] for j in _jobs(tmp_path / "sweep2")] == [0, 0, 0, 0]
    for a, b in zip(jobs, sorted((tmp_path / "sweep2").glob("[0-9]*")), strict=True):
        cols = ["prompt_id", "iteration", "dino_consistency[pixel]", "motion"]
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / "results.parquet")[cols],
            pd.read_parquet(b / "results.parquet")[cols],
        )

    # A kill mid-sweep: one finished sample lost its record, another left a half-written temp
    # file. The next run regenerates exactly that one sample.
    records = sorted((tmp_path / "cache").glob("*/*/sample.json"))
    records[0].unlink()
    (records[1].parent / ".sample.json.partial").write_text("{")
    resumed = _run([*sweep, f"hydra.sweep.dir={tmp_path}/sweep3"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sum(j["generated"] for j in _jobs(tmp_path / "sweep3")) == 1


def test_real_model_offline_fails_with_one_clear_message(tmp_path):
    out = _run(["model=animatediff", "freeinit.d0=0.25", "-m"], tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "hf download" in text and "guoyww/animatediff-motion-adapter-v1-5-2" in text
    assert "python run.py model=animatediff model.base=" in text
    assert "Traceback" not in text


def test_bad_config_value_fails_with_one_clear_message(tmp_path):
    out = _run(["freeinit.num_iters=0"], tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "freeinit.num_iters must be an integer >= 1" in text
    assert "Traceback" not in text
