"""Weights & Biases logging of a finished job. The results on disk stay the source of truth.

Offline by default (``logger.mode``; ``WANDB_MODE`` in the environment wins): runs land in
``<output_dir>/wandb/offline-run-*`` and ``wandb sync <that dir>`` uploads them later. The runs of
one sweep share a ``group`` (the sweep directory's name); a multirun logs one run per job.

**Self-contained run folders.** Everything a run uploads lies inside its ``offline-run-*``
folder, so a copy of that folder syncs from anywhere:

- videos are logged as run media (one ``videos`` entry per FreeInit iteration, one clip per
  sample), which wandb copies into ``files/media/videos/`` and records relative to the folder
  (``wandb sync`` reads them from ``<synced dir>/files``);
- the per-sample table holds numbers and text only (its ``video`` column names the clip's path
  relative to the job folder), so no video goes through wandb's artifact staging area;
- wandb's staging area itself (where it keeps the table's JSON for the run's table artifact) is
  moved into the run folder (``<run>/staging``) instead of ``~/.local/share/wandb``.

**Bounded start.** ``logger.mode=online`` with no network used to stall for about 100 s (90 s
``init_timeout`` plus two 5 s account look-ups). :func:`start_run` waits at most
``logger.init_timeout`` seconds (default :data:`INIT_TIMEOUT`), skips the account look-ups
(``quiet``), and on failure logs one warning that W&B is unreachable and the results are on disk.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from evaluation.results import VIDEO_COLUMNS, metric_columns, video_file

log = logging.getLogger(__name__)

# Seconds wandb.init may wait for the W&B server (wandb's own default is 90).
INIT_TIMEOUT = 20.0

_MODES = ("online", "offline", "disabled")


def group_name(cfg: DictConfig) -> str:
    """``logger.group``, or the sweep directory's name (jobs of a multirun live in
    ``<sweep dir>/<job num>``), or the run directory's name."""
    group = OmegaConf.select(cfg, "logger.group")
    if group:
        return str(group)
    out = Path(cfg.paths.output_dir)
    return out.parent.name if out.name.isdigit() else out.name


def init_timeout(cfg: DictConfig) -> float:
    """``logger.init_timeout`` (seconds, a number > 0; default :data:`INIT_TIMEOUT`).

    Raises:
        ValueError: naming the key, for anything else.
    """
    value = OmegaConf.select(cfg, "logger.init_timeout", default=None)
    if value is None:
        return INIT_TIMEOUT
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"logger.init_timeout must be a number of seconds > 0, got {value!r}")
    return float(value)


def logger_mode(cfg: DictConfig) -> str | None:
    """The W&B mode of this job: None when logging is off (``logger=none`` or ``disabled``).

    ``WANDB_MODE`` in the environment wins over ``logger.mode``; neither is written back to the
    environment, so one job's mode never leaks into the next job of a sweep.
    """
    lcfg = cfg.get("logger")
    if lcfg is None or lcfg.get("name", "none") == "none":
        return None
    mode = os.environ.get("WANDB_MODE") or str(lcfg.get("mode", "offline"))
    if mode not in _MODES:
        raise ValueError(f"logger.mode must be one of {', '.join(_MODES)}, got {mode!r}")
    return None if mode == "disabled" else mode


def start_run(
    cfg: DictConfig,
    out_dir: Path,
    *,
    name: str,
    group: str | None = None,
    config: dict[str, Any] | None = None,
    **init_kwargs: Any,
) -> Any | None:
    """``wandb.init`` for a job writing into ``out_dir``, with a bounded wait: the one place a
    W&B run starts (generation, SNR and training jobs).

    ``group`` defaults to :func:`group_name` and ``config`` to the whole resolved ``cfg``.
    Returns the run, or None when logging is off or W&B cannot be reached; the latter is logged
    once as a warning (the job's results are on disk either way). ``init_kwargs`` go to
    ``wandb.init`` (``job_type``, ...).
    """
    try:  # settings validation refuses these at start-up; never fail a finished job here
        mode, timeout = logger_mode(cfg), init_timeout(cfg)
    except ValueError as err:
        log.warning("W&B logging skipped: %s; the results are on disk in %s", err, out_dir)
        return None
    if mode is None:
        return None
    lcfg = cfg.logger
    try:
        import wandb

        return wandb.init(
            project=lcfg.get("project", "freqlab"),
            entity=lcfg.get("entity"),
            group=group or group_name(cfg),
            name=name,
            tags=list(lcfg.get("tags") or []),
            dir=str(out_dir),
            config=OmegaConf.to_container(cfg, resolve=True) if config is None else config,
            mode=mode,
            reinit="finish_previous",
            # quiet: no "logged in as" banner, whose two account look-ups wait 5 s each
            # without a network, outside init_timeout.
            settings=wandb.Settings(init_timeout=timeout, quiet=True),
            **init_kwargs,
        )
    except Exception as err:  # noqa: BLE001 - W&B must never lose or fail a finished job
        if mode == "online":
            log.warning(
                "W&B is unreachable (%s within logger.init_timeout=%g s); nothing logged to W&B, "
                "the results are on disk in %s",
                _first_line(err),
                timeout,
                out_dir,
            )
        else:
            _warn_failed(err, out_dir)
        return None


def start_training_run(
    cfg: DictConfig, out_dir: Path, *, group: str, config: DictConfig
) -> tuple[Any | None, Callable[[dict[str, float], int], None] | None]:
    """:func:`start_run` for a training job (run named after ``out_dir``, ``config``: its
    training group) and the trainer's ``log_fn(metrics, step)``; (None, None) when logging is
    off or W&B is unreachable."""
    run = start_run(
        cfg,
        out_dir,
        name=out_dir.name,
        group=group,
        config=OmegaConf.to_container(config, resolve=True),
    )
    return run, None if run is None else (lambda metrics, step: run.log(metrics))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _warn_failed(err: BaseException, out_dir: Path) -> None:
    """The one warning of a W&B failure: the job goes on, its results are on disk."""
    log.warning(
        "W&B logging failed (%s: %s); the results are on disk in %s",
        type(err).__name__,
        _first_line(err),
        out_dir,
    )


@contextmanager
def staging_in(run: Any) -> Iterator[Path]:
    """Point wandb's artifact staging area into the run folder while logging.

    wandb copies what a table artifact holds to ``$WANDB_DATA_DIR/artifacts/staging`` (by default
    ``~/.local/share/wandb``) and uploads it from there at sync: outside the run folder, so a
    copied folder missed it. The variable is read at each staging call; it is restored on exit.
    """
    folder = Path(run.dir).parent / "staging"
    old = os.environ.get("WANDB_DATA_DIR")
    os.environ["WANDB_DATA_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("WANDB_DATA_DIR", None)
        else:
            os.environ["WANDB_DATA_DIR"] = old


def _plot_metrics(summary: pd.DataFrame, metrics: list[str]) -> Any:
    from matplotlib.figure import Figure

    cols = min(3, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig = Figure(figsize=(4 * cols, 3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, metrics, strict=False):
        ax.errorbar(summary.index, summary[(name, "mean")], yerr=summary[(name, "sem")], marker="o")
        ax.set_xlabel("FreeInit iteration (0 = baseline)")
        ax.set_ylabel("mean ± standard error over videos")
        ax.set_title(name)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    return fig


def video_files(frame: pd.DataFrame, out_dir: Path) -> list[Path | None]:
    """Each row's video as a path: ``video_path`` relative to ``out_dir`` (absolute ones, from
    older results files, are kept); None where there is none or the file is missing."""
    if "video_path" not in frame:
        return [None] * len(frame)
    paths = [video_file(out_dir, p) for p in frame["video_path"]]
    return [p if p is not None and p.is_file() else None for p in paths]


def log_job(cfg: DictConfig, frame: pd.DataFrame, summary: dict[str, Any]) -> str | None:
    """Log one job's config, per-sample table, per-iteration means, plots and videos.

    ``frame``'s ``video_path`` values are relative to ``cfg.paths.output_dir``. Returns the run's
    local directory, or None when logging is off or W&B failed. Never raises for W&B trouble:
    a failure is logged as a warning, since the results are already on disk.
    """
    out_dir = Path(cfg.paths.output_dir)
    group = group_name(cfg)
    name = out_dir.name if not out_dir.name.isdigit() else f"{group}-{out_dir.name}"
    run = start_run(cfg, out_dir, name=name)
    if run is None:
        return None
    try:
        with staging_in(run):
            _log(cfg, run, frame, summary, out_dir)
        return run.dir
    except Exception as err:  # noqa: BLE001 - W&B must never lose or fail a finished job
        _warn_failed(err, out_dir)
        return None
    finally:
        try:
            run.finish()
        except Exception as err:  # noqa: BLE001
            log.warning("W&B run did not finish cleanly (%s)", _first_line(err))


def _log(
    cfg: DictConfig, run: Any, frame: pd.DataFrame, summary: dict[str, Any], out_dir: Path
) -> None:
    import wandb

    metrics = metric_columns(frame)
    log_videos = cfg.logger.get("log_videos", True)
    paths = video_files(frame, out_dir) if log_videos else [None] * len(frame)
    files = pd.Series(paths, index=frame.index, dtype=object)
    for it, rows in frame.groupby("iteration", sort=True):
        entry: dict[str, Any] = {"iteration": int(it)}
        entry |= {f"{m}/mean": float(rows[m].mean()) for m in metrics}
        clips = [
            wandb.Video(str(files[i]), caption=_caption(r), format="mp4")
            for i, r in rows.iterrows()
            if files[i] is not None
        ]
        if clips:  # copied into the run folder's files/media/videos
            entry["videos"] = clips
        run.log(entry)
    if metrics:
        per_iter = frame.groupby("iteration")[metrics].agg(["mean", "sem"])
        run.log({"metrics_vs_iteration": wandb.Image(_plot_metrics(per_iter, metrics))})
        run.summary.update(
            {f"final/{m}": float(frame[frame.is_final][m].mean()) for m in metrics}
            | {f"baseline/{m}": float(frame[frame.iteration == 0][m].mean()) for m in metrics}
        )
    table = frame.drop(columns=[c for c in VIDEO_COLUMNS if c in frame])
    if "video_path" in frame:
        table = table.assign(
            video=frame["video_path"].astype(object).where(frame.video_path.notna())
        )
    run.log({"samples": wandb.Table(dataframe=table)})
    keys = ("samples", "generated", "cached", "passes_generated", "passes_cached", "unet_calls")
    run.summary.update({k: summary[k] for k in keys if k in summary})


def _caption(row: pd.Series) -> str:
    return f"{row.prompt_id}, seed {row.seed}, iteration {row.iteration}"
