"""run.py, end to end through the real entry point in a subprocess, offline: sweeps that cache and
resume, and bad input refused before any model loads with one message naming the key or path, no
traceback (the checks themselves are in tests/experiments/test_settings.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# 4 frames: the pixel metrics (the judge's read 8-frame videos only).
SMALL = [
    "dataset.limit=2",
    "model.num_frames=4",
    "metrics=pixel",
    "model.num_inference_steps=2",
    "threads=1",
]
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
        num_iters = int(frame.num_iters.iloc[0])
        assert len(frame) == 2 * num_iters  # 2 prompts x 1 seed x passes
        assert list(frame.groupby("prompt_id").iteration.max()) == [num_iters - 1] * 2
        assert {"dino_consistency[pixel]", "motion", "temporal_flicker"} <= set(frame.columns)
        assert all((job / p).is_file() for p in frame.video_path)
        assert list((job / "wandb").glob("offline-run-*/run-*.wandb"))
    # Pass-level cache, jobs in order (method, num_iters): (g, 1) samples pass 0 of both prompts,
    # (g, 2) only pass 1, (b, 1) nothing (pass 0 does not depend on the filter), (b, 2) pass 1.
    summaries = _jobs(tmp_path / "sweep1")
    assert [j["passes_generated"] for j in summaries] == [2, 2, 0, 2]
    assert [j["unet_calls"] for j in summaries] == [2, 2, 0, 2]  # one batch x 2 steps a pass

    again = _run([*sweep, f"hydra.sweep.dir={tmp_path}/sweep2"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [j["unet_calls"] for j in _jobs(tmp_path / "sweep2")] == [0, 0, 0, 0]
    for a, b in zip(jobs, sorted((tmp_path / "sweep2").glob("[0-9]*")), strict=True):
        cols = ["prompt_id", "iteration", "dino_consistency[pixel]", "motion"]
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / "results.parquet")[cols],
            pd.read_parquet(b / "results.parquet")[cols],
        )

    # A kill mid-sweep: a refinement pass lost its record, another pass folder holds a
    # half-written temp file of a dead writer. The next run regenerates exactly that one pass
    # and removes the temp file.
    last = pd.read_parquet(jobs[1] / "results.parquet")
    lost = last.pass_key[last.iteration == 1].iloc[0]
    (tmp_path / "cache" / "passes" / lost[:2] / lost / "pass.json").unlink()
    other = last.pass_key.iloc[0]
    leftover = tmp_path / "cache" / "passes" / other[:2] / other / ".pass.json.tmp-x-1-ab"
    leftover.write_text("{")
    os.utime(leftover, (0, 0))  # another host's, and days old
    resumed = _run([*sweep, f"hydra.sweep.dir={tmp_path}/sweep3"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sum(j["passes_generated"] for j in _jobs(tmp_path / "sweep3")) == 1
    assert not leftover.exists()


def test_killed_job_resumes_with_the_missing_passes(tmp_path):
    """SIGKILL a real job once its first pass is cached; the same command finishes the rest."""
    args = [*SMALL, "model=tiny_animatediff", "freeinit.num_iters=3", "batch_size=1"]
    args += [f"paths.root={tmp_path}", f"hydra.run.dir={tmp_path}/run1"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env["HF_HOME"] = str(tmp_path / "hf")
    job = subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = tmp_path / "cache" / "passes"
    deadline = time.monotonic() + 300
    try:
        while not list(records.glob("*/*/pass.json")) and job.poll() is None:
            assert time.monotonic() < deadline, "the job cached no pass in 300 s"
            time.sleep(0.05)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    cached = len(list(records.glob("*/*/pass.json")))
    total = 2 * 3  # 2 prompts x 3 passes
    assert 1 <= cached < total, "the job finished before it could be killed"

    resumed = _run([*args[:-1], f"hydra.run.dir={tmp_path}/run2"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((tmp_path / "run2" / "job.json").read_text())
    assert summary["passes_cached"] == cached
    assert summary["passes_generated"] == total - cached
    frame = pd.read_parquet(tmp_path / "run2" / "results.parquet")
    assert len(frame) == total and frame["motion"].notna().all()
    leftovers = [p for p in records.rglob(".*") if p.is_file()]
    assert leftovers == []  # temp files of the killed writer are gone


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
    assert "freeinit.num_iters must be an int >= 1" in text
    assert "Traceback" not in text


def _start(args: list[str], root: Path) -> tuple[int, str]:
    """Exit code and output of a run.py job that should stop at start-up."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env["HF_HOME"] = str(root / "hf")
    env["FREQLAB_MIN_FREE_MB"] = "0"
    out = subprocess.run(
        [sys.executable, "run.py", f"paths.root={root}", f"hydra.run.dir={root}/run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out.returncode, out.stdout + out.stderr


def test_bad_values_and_keys_fail_at_start_up(tmp_path):
    code, text = _start(["model.height=30", "+freeint.d0=0.25"], tmp_path)
    assert code == 1 and "Traceback" not in text
    # keys first: the added key is named as the command line gave it
    assert "unknown config key(s), read by nothing: freeint.d0 (did you mean freeinit?)" in text
    code, text = _start(["model.height=30"], tmp_path)
    assert code == 1 and "Traceback" not in text
    assert "model.height must be a multiple of 8 for testbed (e.g. 24 or 32), got 30" in text
    assert not (tmp_path / "cache").exists()  # nothing sampled, nothing cached


def test_unwritable_output_folders_give_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    code, text = _start([f"hydra.run.dir={afile}/run"], tmp_path)  # Hydra would make it first
    assert code == 1 and "Traceback" not in text
    assert text.strip() == (
        f"freqlab: hydra.run.dir={afile}/run: cannot write there: {afile} is not a directory"
    )
    code, text = _start([f"paths.cache_dir={afile}/cache"], tmp_path)
    assert code == 1 and "Traceback" not in text
    assert f"paths.cache_dir={afile}/cache: cannot write there" in text
