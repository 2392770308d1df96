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
from typing import Any

from omegaconf import DictConfig

from experiments.settings import ConfigError
from experiments.training import check_group, group_values, training_run
from freqlab.testbed.train_judge import JudgeConfig, train_judge

log = logging.getLogger(__name__)
_POSITIVE = ("steps", "batch_size", "width", "eval_clips", "checkpoint_every", "log_every")
_PROBABILITIES = ("p_blank", "p_still", "label_smoothing")


def judge_config(cfg: DictConfig) -> JudgeConfig:
    """The ``train_judge`` group as a :class:`JudgeConfig`; a bad key or value raises one
    ConfigError naming it."""
    values = group_values(cfg, "train_judge")
    check_group("train_judge", values, JudgeConfig, what="judge", positive=_POSITIVE)
    for key in _PROBABILITIES:
        if values.get(key, 0) > 1:
            raise ConfigError(f"train_judge.{key} is out of range: {values[key]!r}")
    if values.get("width", 32) % 8:
        raise ConfigError(f"train_judge.width must be a multiple of 8, got {values['width']!r}")
    return JudgeConfig(**values)


def run_train_judge(cfg: DictConfig) -> dict[str, Any]:
    """Train the judge as ``cfg.train_judge`` says; returns the summary (held-out accuracy)."""
    settings = judge_config(cfg)
    with training_run(cfg, "train_judge", group="train_judge") as job:
        summary = train_judge(settings, job.out_dir, job.log_fn)
        job.summarize({"heldout_accuracy": summary["heldout_accuracy"]})
    for key in ("heldout_accuracy", "heldout_accuracy_mp4"):
        log.info("%s: %s", key, {k: round(v, 4) for k, v in summary[key].items()})
    log.info("weights in %s", job.out_dir / "weights")
    return summary
