"""Scale-out: the launcher configs (conf/hydra/launcher) and a real 2-job sweep through submitit's
local executor, merged by the report."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "dataset.limit=2",
    "model.num_frames=4",
    "model.num_inference_steps=2",
    "freeinit.num_iters=2",
    "threads=1",
    "logger=none",
]


def _launcher(name: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
    return cfg.hydra.launcher


@pytest.mark.parametrize(
    "name, expected",
    [
        ("parallel", dict(n_jobs=2, prefer="processes")),
        ("slurm", dict(gpus_per_node=1, tasks_per_node=1, nodes=1, max_num_timeout=3)),
    ],
)
def test_launcher_configs(name, expected):
    launcher = _launcher(name)
    for key, value in expected.items():
        assert launcher[key] == value
    module, _, cls = launcher._target_.rpartition(".")
    assert hasattr(importlib.import_module(module), cls)  # the plugin is installed


def test_submitit_local_sweep_and_report_merge_both_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env["HF_HOME"] = str(tmp_path / "hf")
    run = subprocess.run(
        [
            sys.executable,
            "run.py",
            "experiment=freeinit_x_freeu",  # 2 jobs: freeu=off and freeu=model
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=10",
            f"paths.root={tmp_path}",
            f"hydra.sweep.dir={sweep}",
            *TINY,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.parent.name for p in sweep.glob("*/results.parquet")) == ["0", "1"]
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # it went through submitit

    from evaluation.report import main

    assert main([str(sweep), "--resamples", "200"]) == 0
    from evaluation.report import build_report

    report = build_report(sweep, n_resamples=200)
    assert len(report.sweep.jobs) == 2
    assert set(report.sweep.frame.freeu) == {False, True}
    assert report.sweep.frame.sample_key.nunique() == 4  # 2 prompts x 2 jobs
    arms = set(report.freeu_differences.arm)
    assert arms == {"plain sampling", "FreeInit", "FreeU", "FreeU + FreeInit"}
    html = (sweep / "report" / "report.html").read_text()
    assert html.count('class="card"') == 4 and "freeu=model" in html
