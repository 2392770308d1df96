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

import torch
from omegaconf import DictConfig, OmegaConf

from experiments import wandb_logger
from experiments.settings import ConfigError
from freqlab.testbed.train import TrainConfig, TrainConfigV2, train_testbed

log = logging.getLogger(__name__)


def train_config(cfg: DictConfig) -> TrainConfig:
    """The ``train`` group as a :class:`TrainConfig`, or a :class:`TrainConfigV2` when it sets
    v2's keys (``train=testbed_v2``); unknown keys raise a ConfigError."""
    values = OmegaConf.to_container(cfg.train, resolve=True)
    values.pop("out_dir", None)
    v1 = {f.name for f in fields(TrainConfig)}
    kind = TrainConfig if set(values) <= v1 else TrainConfigV2
    known = {f.name: f.type for f in fields(kind)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"train.{unknown[0]} is not a training setting; known: {sorted(known)}")
    for key, value in values.items():
        default = getattr(kind(), key)
        if isinstance(value, bool) or not isinstance(value, type(default) | int):
            raise ConfigError(f"train.{key} must be a {type(default).__name__}, got {value!r}")
        if value < 0 or (key in ("steps", "batch_size", "num_clips", "log_every") and value < 1):
            raise ConfigError(f"train.{key} is out of range: {value!r}")
        if key == "min_lr_ratio" and value > 1:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {value!r}")
        if key == "ema_decay" and value >= 1:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {value!r}")
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_train_testbed(cfg: DictConfig) -> dict[str, Any]:
    """Train the testbed as ``cfg.train`` says; returns the summary (final losses, scale)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = train_config(cfg)
    out_dir = Path(cfg.train.out_dir or cfg.paths.output_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    run, log_fn = wandb_logger.start_training_run(
        cfg, out_dir, group="train_testbed", config=cfg.train
    )
    try:
        summary = train_testbed(settings, out_dir, log_fn)
        if run is not None:
            run.summary.update({k: v for k, v in summary.items() if k != "config"})
    finally:
        if run is not None:
            run.finish()
    plot_loss(out_dir / "loss.csv", out_dir / "loss.png")
    log.info("final loss %.4f; weights in %s", summary["final_loss"], out_dir / "weights")
    return summary
