"""The judge's training job (``task=train_judge``): Hydra config -> :func:`train_judge`.

``python run.py task=train_judge [train_judge.steps=...] [train_judge.out_dir=<dir>]`` trains the
testbed judge (see :mod:`freqlab.testbed.train_judge`), logs its loss to W&B (offline by default;
``logger=none`` turns it off) and ``loss.csv``, measures it on held-out real clips (raw and after
MP4) and writes ``<out_dir>/weights/judge.{safetensors,json}``. Re-run with the same
``train_judge.out_dir`` to resume. Copy ``weights/judge.*`` into ``freqlab/testbed/weights/`` to
ship them.
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
from freqlab.testbed.train_judge import JudgeConfig, train_judge

log = logging.getLogger(__name__)
_POSITIVE = ("steps", "batch_size", "width", "eval_clips", "checkpoint_every", "log_every")
_PROBABILITIES = ("p_blank", "p_still", "label_smoothing")


def judge_config(cfg: DictConfig) -> JudgeConfig:
    """The ``train_judge`` group as a :class:`JudgeConfig`; a bad key or value raises one
    ConfigError naming it."""
    values = OmegaConf.to_container(cfg.train_judge, resolve=True)
    values.pop("out_dir", None)
    known = [f.name for f in fields(JudgeConfig)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"train_judge.{unknown[0]} is not a judge setting; known: {known}")
    for key, value in values.items():
        default = getattr(JudgeConfig(), key)
        if isinstance(value, bool) or not isinstance(value, type(default) | int):
            raise ConfigError(
                f"train_judge.{key} must be a {type(default).__name__}, got {value!r}"
            )
        if value < 0 or (key in _POSITIVE and value < 1) or (key in _PROBABILITIES and value > 1):
            raise ConfigError(f"train_judge.{key} is out of range: {value!r}")
    if values.get("width", 32) % 8:
        raise ConfigError(f"train_judge.width must be a multiple of 8, got {values['width']!r}")
    return JudgeConfig(**values)


def run_train_judge(cfg: DictConfig) -> dict[str, Any]:
    """Train the judge as ``cfg.train_judge`` says; returns the summary (held-out accuracy)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = judge_config(cfg)
    out_dir = Path(cfg.train_judge.out_dir or cfg.paths.output_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    run, log_fn = wandb_logger.start_training_run(
        cfg, out_dir, group="train_judge", config=cfg.train_judge
    )
    try:
        summary = train_judge(settings, out_dir, log_fn)
        if run is not None:
            run.summary.update({"heldout_accuracy": summary["heldout_accuracy"]})
    finally:
        if run is not None:
            run.finish()
    for key in ("heldout_accuracy", "heldout_accuracy_mp4"):
        log.info("%s: %s", key, {k: round(v, 4) for k, v in summary[key].items()})
    log.info("weights in %s", out_dir / "weights")
    return summary
