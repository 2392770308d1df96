"""experiments.train_judge (task=train_judge): the config group maps onto JudgeConfig (a bad key or
value names it), and the task trains a few steps, writes the weights and logs to W&B offline."""

from __future__ import annotations

import pytest

from experiments.settings import ConfigError
from experiments.train_judge import judge_config, run_train_judge
from freqlab.testbed.judge import ATTRIBUTES
from freqlab.testbed.train_judge import JudgeConfig

# A few steps of a tiny judge, each key overridden on the command line.
TINY = dict(steps=2, batch_size=2, width=8, eval_clips=2, checkpoint_every=1, log_every=1)
SMALL = ["task=train_judge", *(f"train_judge.{key}={value}" for key, value in TINY.items())]


def test_judge_task_trains_writes_weights_and_logs_offline(tmp_path, monkeypatch, task_config):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = run_train_judge(task_config([*SMALL, "logger=wandb"], tmp_path))
    assert set(ATTRIBUTES) <= set(summary["heldout_accuracy"])
    assert (tmp_path / "weights" / "judge.safetensors").exists()
    assert len((tmp_path / "loss.csv").read_text().splitlines()) == 3  # header + 2 steps
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))


def test_judge_task_writes_to_its_out_dir_without_wandb(tmp_path, task_config):
    out = tmp_path / "judge"
    run_train_judge(task_config([*SMALL, "logger=none", f"train_judge.out_dir={out}"], tmp_path))
    assert (out / "weights" / "judge.json").exists() and not (tmp_path / "wandb").exists()


def test_config_defaults_are_the_library_defaults(tmp_path, task_config):
    assert judge_config(task_config(["task=train_judge"], tmp_path)) == JudgeConfig()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train_judge.steps=0", "train_judge.steps is out of range"),
        ("train_judge.lr=fast", "train_judge.lr must be a float"),
        ("train_judge.p_blank=1.5", "train_judge.p_blank is out of range"),
        ("train_judge.weight_decay=-1.0", "train_judge.weight_decay is out of range"),
        ("train_judge.width=12", "train_judge.width must be a multiple of 8"),
        ("+train_judge.depth=3", "train_judge.depth is not a judge setting"),
    ],
)
def test_bad_judge_setting_names_the_key(tmp_path, task_config, override, match):
    with pytest.raises(ConfigError, match=match):
        judge_config(task_config(["task=train_judge", override], tmp_path))
