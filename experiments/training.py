"""What the training tasks (``task=train_testbed``, ``task=train_judge``) share.

* :func:`check_group`: a task's config group checked against its trainer's settings dataclass,
  so a bad key or value fails before any training with one ConfigError naming it;
* :func:`training_run`: the start-up (threads, output folder, W&B run) and the W&B run's finish.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from experiments import wandb_logger
from experiments.settings import ConfigError

__all__ = ["TrainingRun", "check_group", "group_values", "training_run"]


def group_values(cfg: DictConfig, section: str) -> dict[str, Any]:
    """``cfg.<section>`` resolved, less ``out_dir`` (where the job writes, not a trainer
    setting)."""
    values = OmegaConf.to_container(cfg[section], resolve=True)
    values.pop("out_dir", None)
    return values


def check_group(
    section: str, values: dict[str, Any], kind: type, *, what: str, positive: Collection[str] = ()
) -> None:
    """Check ``values`` (``cfg.<section>``'s) against the dataclass ``kind``: every key one of its
    fields, of its default's type (an int where a float is; a bool for a switch), >= 0, and >= 1
    for the keys in ``positive``; raises a ConfigError naming ``<section>.<key>`` (``what``: "a <what> setting").
    Checks of single keys beyond these (upper bounds) stay with the caller."""
    known = sorted(f.name for f in fields(kind))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{section}.{unknown[0]} is not a {what} setting; known: {known}")
    defaults = kind()
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):  # a switch: true or false, nothing else
            if not isinstance(value, bool):
                raise ConfigError(f"{section}.{key} must be true or false, got {value!r}")
            continue
        if isinstance(default, str):  # a choice: its values are the caller's to check
            if not isinstance(value, str):
                raise ConfigError(f"{section}.{key} must be a str, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, type(default) | int):
            raise ConfigError(f"{section}.{key} must be a {type(default).__name__}, got {value!r}")
        if value < 0 or (key in positive and value < 1):
            raise ConfigError(f"{section}.{key} is out of range: {value!r}")


@dataclass
class TrainingRun:
    """A training job's output folder, its W&B run (None when logging is off or W&B is
    unreachable) and the trainer's ``log_fn(metrics, step)`` (None likewise)."""

    out_dir: Path
    run: Any | None
    log_fn: Callable[[dict[str, float], int], None] | None

    def summarize(self, values: dict[str, Any]) -> None:
        """Put ``values`` in the W&B run's summary, if there is a run."""
        if self.run is not None:
            self.run.summary.update(values)


@contextmanager
def training_run(cfg: DictConfig, section: str, *, group: str) -> Iterator[TrainingRun]:
    """Start a training job: ``cfg.threads`` torch threads (if set), the output folder
    (``cfg.<section>.out_dir``, else the run's output directory; created) and a W&B run in the
    W&B ``group`` whose config is ``cfg.<section>``. The run is finished on exit, also on an
    exception (which then propagates)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg[section].out_dir or cfg.paths.output_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    run, log_fn = wandb_logger.start_training_run(cfg, out_dir, group=group, config=cfg[section])
    try:
        yield TrainingRun(out_dir, run, log_fn)
    finally:
        if run is not None:
            run.finish()
