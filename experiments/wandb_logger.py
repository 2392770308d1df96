"""Weights & Biases logging of a finished job. The results on disk stay the source of truth.

Offline by default (``logger.mode``, or ``WANDB_MODE`` in the environment, which wins): runs land in
``<output_dir>/wandb/offline-run-*`` and ``wandb sync <that dir>`` uploads them later. The runs of
one sweep share a ``group`` (the sweep directory's name); a multirun logs one run per job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# Columns that identify a row rather than measure it.
_NON_METRICS = {
    "sample_key",
    "prompt_id",
    "prompt",
    "seed",
    "iteration",
    "is_final",
    "steps",
    "video_path",
}


def metric_columns(frame: pd.DataFrame, config_columns: set[str]) -> list[str]:
    """The numeric per-video measurements of a results frame."""
    return [
        c
        for c in frame.columns
        if c not in _NON_METRICS
        and c not in config_columns
        and pd.api.types.is_numeric_dtype(frame[c])
    ]


def _group(cfg: DictConfig) -> str:
    group = OmegaConf.select(cfg, "logger.group")
    if group:
        return str(group)
    # Jobs of a multirun live in <sweep dir>/<job num>: the sweep dir names the group.
    out = Path(cfg.paths.output_dir)
    return out.parent.name if out.name.isdigit() else out.name


def _plot_metrics(summary: pd.DataFrame, metrics: list[str]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, metrics, strict=False):
        ax.errorbar(summary.index, summary[(name, "mean")], yerr=summary[(name, "sem")], marker="o")
        ax.set_xlabel("FreeInit iteration (0 = baseline)")
        ax.set_title(name)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def log_job(cfg: DictConfig, frame: pd.DataFrame, summary: dict[str, Any]) -> str | None:
    """Log one job's config, per-sample table (with videos), per-iteration summary and plots.

    Returns the run's local directory, or None when logging is off. Never raises for W&B
    trouble: a failure is logged as a warning, since the results are already on disk.
    """
    lcfg = cfg.get("logger")
    if lcfg is None or lcfg.get("name", "none") == "none":
        return None
    os.environ.setdefault("WANDB_MODE", str(lcfg.get("mode", "offline")))
    if os.environ["WANDB_MODE"] == "disabled":
        return None
    try:
        return _log(cfg, lcfg, frame, summary)
    except Exception as err:  # noqa: BLE001 - W&B must never lose or fail a finished job
        log.warning("W&B logging failed (%s: %s); results are on disk", type(err).__name__, err)
        return None


def _log(
    cfg: DictConfig, lcfg: DictConfig, frame: pd.DataFrame, summary: dict[str, Any]
) -> str | None:
    import wandb

    from experiments.generate import CONFIG_COLUMNS

    out_dir = Path(cfg.paths.output_dir)
    run = wandb.init(
        project=lcfg.get("project", "freqlab"),
        entity=lcfg.get("entity"),
        group=_group(cfg),
        name=out_dir.name if not out_dir.name.isdigit() else f"{_group(cfg)}-{out_dir.name}",
        tags=list(lcfg.get("tags") or []),
        dir=str(out_dir),
        config=OmegaConf.to_container(cfg, resolve=True),
        reinit="finish_previous",
    )
    try:
        metrics = metric_columns(frame, CONFIG_COLUMNS)
        if metrics:
            per_iter = frame.groupby("iteration")[metrics].agg(["mean", "sem"])
            for it, row in per_iter.iterrows():
                run.log(
                    {f"{m}/mean": row[(m, "mean")] for m in metrics} | {"iteration": int(it)},
                )
            run.log({"metrics_vs_iteration": wandb.Image(_plot_metrics(per_iter, metrics))})
            run.summary.update(
                {f"final/{m}": float(frame[frame.is_final][m].mean()) for m in metrics}
                | {f"baseline/{m}": float(frame[frame.iteration == 0][m].mean()) for m in metrics}
            )
        table = frame.drop(columns=["video_path"]).copy()
        if lcfg.get("log_videos", True) and frame["video_path"].notna().any():
            table["video"] = [
                wandb.Video(p, format="mp4") if isinstance(p, str) and Path(p).exists() else None
                for p in frame["video_path"]
            ]
        run.log({"samples": wandb.Table(dataframe=table)})
        run.summary.update(
            {k: summary[k] for k in ("samples", "generated", "cached", "unet_calls")}
        )
        return run.dir
    finally:
        run.finish()
