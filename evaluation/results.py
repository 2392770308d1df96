"""The results schema: what a row of ``results.parquet`` holds, and how to read sweeps of them.

A generation job writes one row per (prompt, seed, iteration) (``experiments.generate``):

- the row's identity (:data:`ID_COLUMNS`): sample and pass keys, prompt, seed, iteration, steps
  (of this pass), unet_steps (UNet steps per video of a run that ends at this pass), and the
  videos (:data:`VIDEO_COLUMNS`, relative to the folder holding the results file; absolute in
  older files; None when the job saved none);
- the job's config, flat, one group of columns per concept (:data:`GROUPS`): the run (model,
  prompts), FreeInit, FreqPrior, FreeU, ByTheWay, FreeNoise, FreeLong, sampling. A new method declares its
  :class:`ColumnGroup` here, once: the job fills it from its settings with :func:`config_row`, the report groups and pairs by it,
  W&B tells it from the metrics;
- one column per metric the job measured (every other numeric column, :func:`metric_columns`).

:func:`load_sweep` merges every ``results.parquet`` under some folders (jobs of a sweep, shards,
re-runs) into a :class:`Sweep`, each (sample, iteration) once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Columns of results.parquet that identify a row rather than configure or measure it.
ID_COLUMNS = (
    "sample_key",
    "prompt_id",
    "prompt",
    "seed",
    "iteration",
    "is_final",
    "steps",
    "unet_steps",
    "pass_key",
    "video_path",
    "comparison_path",
)
# Video columns: paths relative to the folder holding the results file (absolute in older files).
VIDEO_COLUMNS = ("video_path", "comparison_path")


@dataclass(frozen=True)
class ColumnGroup:
    """The config columns of one concept, declared once.

    Attributes:
        name: the concept, and the keyword :func:`config_row` takes its settings by.
        columns: result column -> the key of the concept's settings (a mapping) that fills it.
        enabled: a boolean column telling whether the concept is on (its settings are None when
            off, and its other columns then None), or None for a concept that is always on.
        refinement_only: the columns that change only refinement passes (iteration >= 1): runs
            that differ only there share iteration 0 (the report pairs coarse-to-fine runs with
            such a run's full-step iteration 0).
    """

    name: str
    columns: Mapping[str, str]
    enabled: str | None = None
    refinement_only: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column of the group, in display order."""
        return ((self.enabled,) if self.enabled else ()) + tuple(self.columns)

    def values(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        """The group's columns from the concept's settings (None: the concept is off)."""
        if settings is None:
            if self.enabled is None:
                raise ValueError(f"{self.name}: settings are required (this group is always on)")
            return {self.enabled: False} | dict.fromkeys(self.columns)
        out = {self.enabled: True} if self.enabled else {}
        missing = [key for key in self.columns.values() if key not in settings]
        if missing and self.enabled is None:
            raise KeyError(f"{self.name}: settings lack {', '.join(missing)}")
        return out | {column: settings.get(key) for column, key in self.columns.items()}


def _same(*names: str) -> dict[str, str]:
    return {n: n for n in names}


# What is sampled: the model and the prompt set.
RUN = ColumnGroup("run", _same("model", "dataset"))
# FreeInit (freqlab.FreeInit): its refinement settings, then its noise protocol (rng, which
# decides how pass 0's noise is drawn too).
_REFINEMENT = (
    "method",
    "d_s",
    "d_t",
    "order",
    "num_iters",
    "fast_sampling",
    "variance_preserving",
    "flow_sigma",
    "renoise_timestep",
)
FREEINIT = ColumnGroup("freeinit", _same(*_REFINEMENT, "rng"), refinement_only=_REFINEMENT)
# FreeU (freqlab.FreeU): on/off and its factors.
FREEU = ColumnGroup(
    "freeu",
    _same("b1", "b2", "s1", "s2") | {"freeu_variant": "variant", "freeu_stages": "stages"},
    enabled="freeu",
)
# FreqPrior (freqlab.FreqPrior), the other sampling loop: on/off and its settings. All of them
# change only refinement passes (its pass 0 is plain sampling, as FreeInit's).
_FREQPRIOR = (
    "num_iters",
    "ratio",
    "mid_step",
    "method",
    "d_s",
    "d_t",
    "order",
    "flow_sigma",
    "renoise_timestep",
    "mid_sigma",  # flow-matching models' stop (a noise level); None for DDPM-type models
)
FREQPRIOR = ColumnGroup(
    "freqprior",
    {f"freqprior_{key}": key for key in (*_FREQPRIOR, "rng")},
    enabled="freqprior",
    refinement_only=("freqprior", *(f"freqprior_{key}" for key in _FREQPRIOR)),
)
# FreeNoise (freqlab.FreeNoise): on/off, windows and noise rescheduling (pass 0 changes too);
# freenoise_windows false: the noise rescheduling alone (any model, the DiTs included).
FREENOISE = ColumnGroup(
    "freenoise",
    {
        f"freenoise_{key}": key
        for key in ("context_length", "context_stride", "weighting", "noise", "fix_tail", "windows")
    },
    enabled="freenoise",
)
# ByTheWay (freqlab.ByTheWay): on/off and its temporal-attention settings (pass 0 changes too).
BYTHEWAY = ColumnGroup(
    "bytheway",
    {f"bytheway_{key}": key for key in ("tau", "alpha", "beta", "fraction", "clamp")},
    enabled="bytheway",
)
# FreeLong (freqlab.FreeLong): on/off, local window and SpectralBlend filter (pass 0 changes too).
FREELONG = ColumnGroup(
    "freelong",
    {
        f"freelong_{key}": key
        for key in (
            "window",
            "method",
            "d_s",
            "d_t",
            "order",
            "skip_highest_resolution",
            "freenoise",
            "mask",
            "positions",
        )
    },
    enabled="freelong",
)
# The pipeline call: size, steps, guidance, and the resolved dtype.
SAMPLING = ColumnGroup(
    "sampling",
    _same("num_frames", "height", "width", "num_inference_steps", "guidance_scale", "dtype"),
)
GROUPS = (RUN, FREEINIT, FREQPRIOR, FREEU, BYTHEWAY, FREENOISE, FREELONG, SAMPLING)
# The model-level methods, each with its on/off column, in the order a method's name lists them.
MODEL_METHODS = {
    "FreeU": "freeu",
    "ByTheWay": "bytheway",
    "FreeNoise": "freenoise",
    "FreeLong": "freelong",
}

# Every config column, in display order.
CONFIG_COLUMNS = tuple(c for g in GROUPS for c in g.names)
# Columns that change only the refinement passes: iteration 0 does not depend on them.
REFINEMENT_COLUMNS = tuple(c for g in GROUPS for c in g.refinement_only)
FREEINIT_COLUMNS = FREEINIT.refinement_only
FREQPRIOR_COLUMNS = FREQPRIOR.refinement_only
# The sampling loops' refinement settings: what tells one refined arm from another.
SAMPLER_COLUMNS = FREEINIT_COLUMNS + FREQPRIOR_COLUMNS
FREEU_COLUMNS = FREEU.names


def config_row(**settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config columns of a job's rows, from each group's settings by its name.

    ``config_row(run={"model": ..., "dataset": ...}, freeinit={...}, freqprior=None, freeu=None,
    freenoise=None, sampling={...})`` (every group named: None for a method that is off) returns every :data:`CONFIG_COLUMNS` entry, in that order.

    Raises:
        ValueError: when a group's settings are not given, or a name is not a group's.
    """
    names = [g.name for g in GROUPS]
    unknown = sorted(set(settings) - set(names))
    missing = [n for n in names if n not in settings]
    if unknown or missing:
        raise ValueError(
            f"config_row takes the settings of {', '.join(names)}; "
            f"missing {missing}, unknown {unknown}"
        )
    row: dict[str, Any] = {}
    for group in GROUPS:
        row |= group.values(settings[group.name])
    return row


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The per-video measurements of a results frame: numeric columns other than the identity,
    the config and private (``_``) ones."""
    return [
        c
        for c in frame.columns
        if c not in ID_COLUMNS
        and c not in CONFIG_COLUMNS
        and not str(c).startswith("_")
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def video_file(folder: str | Path, value: Any) -> Path | None:
    """The file a ``video_path`` or ``comparison_path`` value names, resolved against ``folder``
    (the one holding the results file); an absolute path, from older files, is kept. None when
    the row has none."""
    if not isinstance(value, str) or not value:
        return None
    return Path(folder) / value


# --------------------------------------------------------------------------- values


DATASET_NAMES = {"ucf101": "UCF-101", "msrvtt": "MSR-VTT"}


def fmt(value: Any) -> str:
    """A config value for tables: ``0.25``, ``true``, ``-`` for none."""
    if missing(value):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def missing(value: Any) -> bool:
    """Whether a config value is absent (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _canonical(value: Any) -> str:
    """One spelling per config value (None and NaN alike; 1 and 1.0 alike)."""
    if missing(value):
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(float(value))
    return repr(value)


# --------------------------------------------------------------------------- sweeps


@dataclass
class Job:
    """One results file and what its job left beside it."""

    path: Path  # the job's output directory
    rows: int
    overrides: list[str] = field(default_factory=list)  # .hydra/overrides.yaml
    summary: dict[str, Any] = field(default_factory=dict)  # job.json
    config: str | None = None  # .hydra/config.yaml, as written


# The integer keys load_sweep adds: rows with equal keys share every config column but:
# _setting: none; _context: the refinement-only ones; _nofreeu: FreeU's; _plain: both.
GROUP_KEYS = {
    "_setting": (),
    "_context": REFINEMENT_COLUMNS,
    "_nofreeu": FREEU_COLUMNS,
    "_plain": REFINEMENT_COLUMNS + FREEU_COLUMNS,
}


@dataclass
class Sweep:
    """The merged rows of one or more sweeps.

    ``frame`` has one row per (sample, iteration), ``_job`` (the index of its job in ``jobs``)
    and the integer keys of :data:`GROUP_KEYS`.
    """

    roots: list[Path]
    frame: pd.DataFrame
    jobs: list[Job]
    metrics: list[str]
    setting_columns: list[str]  # model, dataset, and every config column that varies
    sweep_configs: dict[str, str]  # multirun.yaml path -> text
    duplicates: int  # rows dropped because another job had the same sample

    def video_file(self, row: pd.Series, column: str = "video_path") -> Path | None:
        """The file a row's ``video_path`` or ``comparison_path`` names (:func:`video_file`,
        against the folder of the results file the row came from); None when it has none."""
        value = row.get(column) if hasattr(row, "get") else None
        return video_file(self.jobs[int(row["_job"])].path, value)

    def sampler(self, row: pd.Series | dict[str, Any]) -> str:
        """The sampling loop that refined a row's passes: ``"FreqPrior"`` or ``"FreeInit"``."""
        return "FreqPrior" if _true(row.get("freqprior")) else "FreeInit"

    def samplers(self, rows: pd.DataFrame | None = None) -> str:
        """The sampling loops with refinements (iteration > 0) in ``rows`` (default: the
        sweep), for titles: ``"FreeInit"``, ``"FreqPrior"`` or ``"FreeInit / FreqPrior"``."""
        rows = self.frame if rows is None else rows
        refined = rows[rows.iteration > 0] if "iteration" in rows else rows
        on = (
            refined.freqprior.map(_true)
            if "freqprior" in refined
            else pd.Series(False, refined.index)
        )
        names = [
            n for n, present in (("FreeInit", (~on).any()), ("FreqPrior", on.any())) if present
        ]
        return " / ".join(names) or "FreeInit"

    def label(self, row: pd.Series | dict[str, Any], columns: Sequence[str] | None = None) -> str:
        """A short name for a setting: model, dataset and the varying columns' values."""
        columns = self.setting_columns if columns is None else columns
        return ", ".join(
            DATASET_NAMES.get(row[c], row[c]) if c in ("model", "dataset") else f"{c}={fmt(row[c])}"
            for c in columns
            if not missing(row[c]) or c in ("model", "dataset")
        )


def _true(value: Any) -> bool:
    return not missing(value) and bool(value)


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_results(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Every ``results.parquet`` under ``paths`` (directories, recursively, or files)."""
    excluded = [Path(p).resolve() for p in exclude]
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted(p.rglob("results.parquet"), key=_natural)
        else:
            raise FileNotFoundError(f"paths: {p} does not exist")
        files = [f for f in files if not any(f.resolve().is_relative_to(e) for e in excluded)]
        if not files:
            raise FileNotFoundError(f"paths: no results.parquet under {p}")
        found += [f for f in files if f.resolve() not in {g.resolve() for g in found}]
    return found


def _read_job(file: Path) -> tuple[pd.DataFrame, Job]:
    import yaml

    frame = pd.read_parquet(file)
    job = Job(path=file.parent, rows=len(frame))
    hydra = file.parent / ".hydra"
    if (hydra / "overrides.yaml").is_file():
        job.overrides = [
            str(o) for o in yaml.safe_load((hydra / "overrides.yaml").read_text()) or []
        ]
    if (hydra / "config.yaml").is_file():
        job.config = (hydra / "config.yaml").read_text()
    if (file.parent / "job.json").is_file():
        job.summary = json.loads((file.parent / "job.json").read_text())
    return frame, job


def load_sweep(*paths: str | Path, exclude: Iterable[str | Path] = ()) -> Sweep:
    """Merge every ``results.parquet`` under ``paths`` (not under ``exclude``).

    A sample found twice (same ``sample_key`` and iteration, e.g. a re-run or overlapping
    sweeps) counts once, with the first value present of each column (two jobs may have measured
    different metrics). Config columns an older file lacks are None (a method's on/off column:
    False); a missing ``num_inference_steps`` is the row's ``steps``, a missing ``unet_steps``
    the sample's steps summed through the row's pass.
    """
    if not paths:
        raise ValueError("paths: give at least one sweep directory or results file")
    files = find_results(paths, exclude)
    frames, jobs = [], []
    for i, file in enumerate(files):
        frame, job = _read_job(file)
        frames.append(frame.assign(_job=i))
        jobs.append(job)
    frame = pd.concat(frames, ignore_index=True, sort=False)
    for column in ("sample_key", "iteration", "prompt_id", "seed", "steps"):
        if column not in frame:
            raise ValueError(f"{files[0]}: not a freqlab results file (no {column!r} column)")
    for column in CONFIG_COLUMNS:
        if column not in frame:
            frame[column] = None
    for group in GROUPS:  # a method an older file predates was off
        if group.enabled is not None:
            frame[group.enabled] = frame[group.enabled].astype(object).fillna(False).astype(bool)
    if frame["num_inference_steps"].isna().any():
        frame["num_inference_steps"] = frame["num_inference_steps"].fillna(frame["steps"])
    total = len(frame)
    order = list(frame.columns)
    frame = frame.groupby(["sample_key", "iteration"], sort=False, as_index=False).first()
    frame = frame[order].sort_values(["_job", "prompt_id", "seed", "iteration"], kind="stable")
    frame = frame.reset_index(drop=True)
    # Older files lack unet_steps: FreeInit's cost through pass k is every pass's steps so far.
    cumulative = frame.groupby("sample_key", sort=False).steps.cumsum()
    if "unet_steps" not in frame:
        frame["unet_steps"] = cumulative
    frame["unet_steps"] = frame["unet_steps"].fillna(cumulative)
    metrics = metric_columns(frame)
    for key, drop in GROUP_KEYS.items():
        cols = [c for c in CONFIG_COLUMNS if c not in drop]
        frame[key] = frame.groupby(cols, dropna=False, sort=False).ngroup()
    varying = [c for c in CONFIG_COLUMNS if frame[c].map(_canonical).nunique() > 1]
    setting_columns = ["model", "dataset"] + [c for c in varying if c not in ("model", "dataset")]
    roots = [Path(p) for p in paths]
    configs: dict[str, str] = {}
    for candidate in [*roots, *(j.path.parent for j in jobs)]:
        file = candidate / "multirun.yaml"
        if file.is_file() and str(file) not in configs:
            configs[str(file)] = file.read_text()
    return Sweep(roots, frame, jobs, metrics, setting_columns, configs, total - len(frame))
