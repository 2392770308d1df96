"""The testbed training job (``task=train_testbed``): Hydra config -> :func:`train_testbed`.

``python run.py task=train_testbed [train.steps=3000] [train.out_dir=<dir>]`` trains both stages
(see :mod:`freqlab.testbed.train`), logs the loss curves to W&B (offline by default; ``logger=none``
turns it off), ``loss.csv`` and ``loss.png``, and writes the shippable weights to
``<out_dir>/weights/``. Re-run with the same ``train.out_dir`` to resume. Copy ``weights/*`` into
``freqlab/testbed/weights/`` to ship them.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from evaluation.report.plots import png_bytes
from experiments.settings import ConfigError
from experiments.training import check_group, group_values, training_run
from freqlab.atomic import write_atomic
from freqlab.testbed.train import TrainConfig, TrainConfigV3, train_testbed

log = logging.getLogger(__name__)


def train_config(cfg: DictConfig) -> TrainConfig:
    """The ``train`` group as a :class:`TrainConfig`, or a :class:`TrainConfigV3` when it sets
    keys v1 lacks (``train=testbed_v3``, and ``train=testbed_v2``, whose file sets every key to
    v2's value); unknown keys raise a ConfigError."""
    values = group_values(cfg, "train")
    v1 = {f.name for f in fields(TrainConfig)}
    kind = TrainConfig if set(values) <= v1 else TrainConfigV3
    positive = ("steps", "batch_size", "num_clips", "log_every", "prior_batch")
    check_group("train", values, kind, what="training", positive=positive)
    if values.get("min_lr_ratio", 0) > 1:
        raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {values['min_lr_ratio']!r}")
    prediction = values.get("prediction_type", "epsilon")
    if prediction not in ("epsilon", "v_prediction"):
        raise ConfigError(
            f"train.prediction_type must be 'epsilon' or 'v_prediction', got {prediction!r}"
        )
    if values.get("ema_decay", 0) >= 1:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {values['ema_decay']!r}")
    return kind(**values)


def plot_loss(loss_csv: Path, path: Path, window: int = 50) -> None:
    """The UNet's epsilon-MSE per step (light) and its ``window``-step running mean, with the
    learning rate on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(loss_csv)
    if frame.empty:
        raise ValueError(f"{loss_csv} has no training steps")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(frame.step, frame.loss, color="C0", alpha=0.2, lw=0.6)
    ax.plot(frame.step, frame.loss.rolling(window, min_periods=1).mean(), color="C0", label="loss")
    ax.set_yscale("log")
    ax.set_xlabel("UNet step")
    ax.set_ylabel(f"epsilon MSE ({window}-step mean)")
    lr = ax.twinx()
    lr.plot(frame.step, frame.lr, color="C1", lw=1)
    lr.set_ylabel("learning rate", color="C1")
    ax.set_title(f"testbed training: final loss {frame.loss.tail(100).mean():.4f}")
    fig.tight_layout()
    write_atomic(path, png_bytes(fig))
    plt.close(fig)


def run_train_testbed(cfg: DictConfig) -> dict[str, Any]:
    """Train the testbed as ``cfg.train`` says; returns the summary (final losses, scale)."""
    settings = train_config(cfg)
    with training_run(cfg, "train", group="train_testbed") as job:
        summary = train_testbed(settings, job.out_dir, job.log_fn)
        job.summarize({k: v for k, v in summary.items() if k != "config"})
    plot_loss(job.out_dir / "loss.csv", job.out_dir / "loss.png")
    log.info("final loss %.4f; weights in %s", summary["final_loss"], job.out_dir / "weights")
    return summary
