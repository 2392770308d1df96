"""experiments.train_testbed (task=train_testbed): the Hydra config composes (by default to the
v2 recipe of the shipped weights, train=testbed to v1's), trains a few steps and logs to W&B
offline."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from experiments.settings import ConfigError
from experiments.train_testbed import run_train_testbed, train_config
from freqlab.atomic import umask_mode
from freqlab.testbed.train import TrainConfig, TrainConfigV2, TrainConfigV3

SMALL = [
    "task=train_testbed",
    "train.num_clips=4",
    "train.vae_steps=1",
    "train.vae_batch=8",
    "train.decoder_steps=1",
    "train.steps=2",
    "train.batch_size=2",
    "train.log_every=1",
]


def test_train_task_runs_and_logs_offline(tmp_path, monkeypatch, task_config):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = run_train_testbed(task_config([*SMALL, "logger=wandb"], tmp_path))
    assert summary["steps"] == 2 and summary["final_loss"] > 0
    assert (tmp_path / "weights" / "unet.safetensors").exists()
    assert (tmp_path / "loss.png").stat().st_size > 5_000
    assert (tmp_path / "loss.png").stat().st_mode & 0o777 == umask_mode()
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))


def test_bad_training_setting_names_the_key(tmp_path, task_config):
    with pytest.raises(ConfigError, match="train.steps"):
        train_config(task_config(["task=train_testbed", "train.steps=0"], tmp_path))
    with pytest.raises(ConfigError, match="train.lr"):
        train_config(task_config(["task=train_testbed", "train.lr=fast"], tmp_path))
    with pytest.raises(ConfigError, match="train.min_lr_ratio"):
        train_config(task_config(["task=train_testbed", "train.min_lr_ratio=2.0"], tmp_path))


def test_config_defaults_are_the_library_defaults(tmp_path, task_config):
    """The default recipe is the shipped weights' (testbed.json, checked against TrainConfigV2()
    in tests/testbed/test_train.py); train=testbed is v1's."""
    assert train_config(task_config(["task=train_testbed"], tmp_path)) == TrainConfigV3()
    v1 = train_config(task_config(["task=train_testbed", "train=testbed"], tmp_path))
    assert type(v1) is TrainConfig and v1 == TrainConfig()


def test_v2_config_composes_to_the_v2_recipe(tmp_path, task_config):
    settings = train_config(task_config(["task=train_testbed", "train=testbed_v2"], tmp_path))
    assert asdict(settings) == asdict(TrainConfigV2())  # every key set to v2's value
    assert (
        settings.snr_gamma == 5.0
        and settings.ema_decay == 0.999
        and settings.steps == 10000
        and settings.vae_steps == 10000
    )
    with pytest.raises(ConfigError, match="train.ema_decay"):
        train_config(
            task_config(["task=train_testbed", "train=testbed_v2", "train.ema_decay=1.0"], tmp_path)
        )
    with pytest.raises(ConfigError, match="^train.trail is out of range"):
        train_config(
            task_config(["task=train_testbed", "train=testbed_v2", "train.trail=-1.0"], tmp_path)
        )


def test_switches_take_true_or_false_only(tmp_path, task_config):
    base = ["task=train_testbed", "train=testbed_v2"]
    on = train_config(task_config([*base, "train.freeze_text_encoder=true"], tmp_path))
    assert on.freeze_text_encoder is True
    with pytest.raises(ConfigError, match="^train.freeze_text_encoder must be true or false"):
        train_config(task_config([*base, "train.freeze_text_encoder=1"], tmp_path))


def test_prediction_type_is_one_of_two(tmp_path, task_config):
    base = ["task=train_testbed", "train=testbed_v2"]
    v = train_config(task_config([*base, "train.prediction_type=v_prediction"], tmp_path))
    assert v.prediction_type == "v_prediction"
    with pytest.raises(ConfigError, match="^train.prediction_type must be 'epsilon' or"):
        train_config(task_config([*base, "train.prediction_type=sample"], tmp_path))
    with pytest.raises(ConfigError, match="^train.prediction_type must be a str"):
        train_config(task_config([*base, "train.prediction_type=1"], tmp_path))
    with pytest.raises(ConfigError, match="^train.prior_batch is out of range"):
        train_config(task_config([*base, "train.prior_batch=0"], tmp_path))
