"""The testbed training job (``task=train_testbed``): Hydra config -> :func:`train_testbed`.

``python run.py task=train_testbed [train.steps=3000] [train.out_dir=<dir>]`` trains both stages
(see :mod:`freqlab.testbed.train`), logs the loss curves to W&B (offline by default; ``logger=none``
turns it off) and writes the shippable weights to ``<out_dir>/weights/``. Re-run with the same
``train.out_dir`` to resume. Copy ``weights/*`` into ``freqlab/testbed/weights/`` to ship them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from experiments.settings import ConfigError
from freqlab.testbed.train import TrainConfig, train_testbed

log = logging.getLogger(__name__)


def train_config(cfg: DictConfig) -> TrainConfig:
    """The ``train`` group as a :class:`TrainConfig`; unknown keys raise a ConfigError."""
    values = OmegaConf.to_container(cfg.train, resolve=True)
    values.pop("out_dir", None)
    known = {f.name: f.type for f in fields(TrainConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"train.{unknown[0]} is not a training setting; known: {sorted(known)}")
    for key, value in values.items():
        default = getattr(TrainConfig(), key)
        if isinstance(value, bool) or not isinstance(value, type(default) | int):
            raise ConfigError(f"train.{key} must be a {type(default).__name__}, got {value!r}")
        if value < 0 or (key in ("steps", "batch_size", "num_clips", "log_every") and value < 1):
            raise ConfigError(f"train.{key} is out of range: {value!r}")
        if key == "min_lr_ratio" and value > 1:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {value!r}")
    return TrainConfig(**values)


def _wandb_logger(cfg: DictConfig, out_dir: Path) -> tuple[Any, Callable | None]:
    lcfg = cfg.get("logger")
    if lcfg is None or lcfg.get("name") != "wandb":
        return None, None
    import wandb

    os.environ.setdefault("WANDB_MODE", lcfg.get("mode") or "offline")
    run = wandb.init(
        project=lcfg.get("project", "freqlab"),
        entity=lcfg.get("entity"),
        group="train_testbed",
        name=out_dir.name,
        dir=str(out_dir),
        config=OmegaConf.to_container(cfg.train, resolve=True),
        reinit="finish_previous",
    )
    return run, lambda metrics, step: run.log(metrics)


def run_train_testbed(cfg: DictConfig) -> dict[str, Any]:
    """Train the testbed as ``cfg.train`` says; returns the summary (final losses, scale)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = train_config(cfg)
    out_dir = Path(cfg.train.out_dir or cfg.paths.output_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    run, log_fn = _wandb_logger(cfg, out_dir)
    try:
        summary = train_testbed(settings, out_dir, log_fn)
        if run is not None:
            run.summary.update({k: v for k, v in summary.items() if k != "config"})
    finally:
        if run is not None:
            run.finish()
    log.info("final loss %.4f; weights in %s", summary["final_loss"], out_dir / "weights")
    return summary
