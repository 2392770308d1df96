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
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "dataset.limit=2",
    "model.num_frames=4",
    "metrics=pixel",  # the judge's metrics read 8-frame videos only
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


def _readme_slurm_commands() -> list[list[str]]:
    """The overrides of each ``python run.py`` command in the README's "Scale-out" code block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Scale-out") :]
    block = section[section.index("```bash") + 7 :]
    block = block[: block.index("```")].replace("\\\n", " ")
    lines = [line.split("#")[0].split() for line in block.splitlines()]
    return [[o.strip("'") for o in line[2:]] for line in lines if line[:2] == ["python", "run.py"]]


def test_readme_slurm_commands_submit_every_job_of_the_preset():
    commands = _readme_slurm_commands()
    assert len(commands) == 2
    jobs = {}
    for command in commands:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            # as `python run.py` composes it: the preset's hydra.mode makes it a sweep
            cfg = GlobalHydra.instance().hydra.compose_config(
                "config", command, run_mode=RunMode.MULTIRUN
            )
        assert cfg.hydra.mode == RunMode.MULTIRUN
        assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
        assert cfg.hydra.launcher.partition == "gpu" and cfg.hydra.launcher.gpus_per_node == 1
        # the jobs Hydra's sweeper submits: the preset's sweep, then the command line's
        params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items()]
        overrides = OverridesParser.create().parse_overrides([*params, *command])
        jobs[command[0]] = BasicSweeper.split_arguments(overrides, None)[0]
    assert len(jobs["experiment=ablation_filter"]) == 5
    shards = [
        dict(o.split("=") for o in job)["dataset.shard"]
        for job in jobs["experiment=ablation_iters"]
    ]
    assert shards == [str(i) for i in range(8)]


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
