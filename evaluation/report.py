"""Reports of a sweep: paper-style tables (markdown, LaTeX), plots, and a self-contained HTML page.

::

    python -m evaluation.report multirun/generate/<date_time> [more dirs ...] [--out DIR]

Every ``results.parquet`` under the given directories is merged (jobs of a sweep, shards, and
sweeps run into the same folder); a sample found twice (same ``sample_key`` and iteration) counts
once. Rows are grouped into *settings*, one per combination of the config columns that vary.

FreeInit - baseline: for every setting, metric and iteration k, the per-video difference between
pass k and the baseline on the same prompt and seed, with a paired bootstrap 95% CI (percentile
method, videos resampled with replacement, 10,000 resamples, seeded). The baseline is the
setting's own iteration 0, except for coarse-to-fine runs, whose pass 0 has fewer steps: they are
paired with iteration 0 of a full-step run of the same context (same model, prompts, sampling and
FreeU; iteration 0 does not depend on the FreeInit parameters) when the sweep has one.

When a sweep has runs with and without FreeU, FreeU, FreeInit and both are also compared with
plain sampling (no FreeU, iteration 0) on the same prompt and seed.

Outputs (``<first dir>/report`` unless ``--out``): ``tables.md`` / ``tables.tex`` (and one file per
table in ``tables/``), ``differences.csv`` (every difference and CI), ``plots/*.png``,
``results_merged.parquet`` and ``report.html`` (:mod:`evaluation.report_html`). The paper's
reported numbers (:mod:`evaluation.paper_numbers`) stand beside ours where they exist.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation import paper_numbers

# Columns of results.parquet that identify a row (experiments.generate.results_frame).
ID_COLUMNS = (
    "sample_key",
    "prompt_id",
    "prompt",
    "seed",
    "iteration",
    "is_final",
    "steps",
    "pass_key",
    "video_path",
    "comparison_path",
)
# Video columns: paths relative to the folder holding the results file (absolute in older files).
VIDEO_COLUMNS = ("video_path", "comparison_path")
# Below this many paired videos a bootstrap CI is too narrow to trust: no significance marks.
MIN_PAIRS = 10
# The config columns, in display order (the same set as experiments.generate.CONFIG_COLUMNS).
CONFIG_COLUMNS = (
    "model",
    "dataset",
    "method",
    "d_s",
    "d_t",
    "order",
    "num_iters",
    "fast_sampling",
    "variance_preserving",
    "rng",
    "freeu",
    "b1",
    "b2",
    "s1",
    "s2",
    "freeu_variant",
    "freeu_stages",
    "num_frames",
    "height",
    "width",
    "num_inference_steps",
    "guidance_scale",
    "dtype",
)
# Columns that only change the FreeInit refinements: iteration 0 does not depend on them.
FREEINIT_COLUMNS = (
    "method",
    "d_s",
    "d_t",
    "order",
    "num_iters",
    "fast_sampling",
    "variance_preserving",
)
FREEU_COLUMNS = ("freeu", "b1", "b2", "s1", "s2", "freeu_variant", "freeu_stages")
DATASET_NAMES = {"ucf101": "UCF-101", "msrvtt": "MSR-VTT"}
_KEYS = ("_setting", "_context", "_nofreeu", "_plain")


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class BootstrapCI:
    """Means of paired differences and their bootstrap interval; arrays of shape ``(M,)``."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray  # pairs used per column (NaNs dropped)


def paired_bootstrap_ci(
    differences: np.ndarray | Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean of paired differences.

    Args:
        differences: ``(N,)`` or ``(N, M)``: one row per pair (video), one column per quantity
            (metric, iteration). NaNs are dropped per column; columns with the same missing rows
            share their resamples.
        confidence: the interval's coverage, in (0, 1).
        n_resamples: bootstrap resamples of the N pairs (with replacement).
        seed: seeds the resampling; the same inputs give the same interval.

    Returns:
        Mean, low and high per column (shape ``(M,)``; NaN bounds with fewer than two pairs).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim not in (1, 2):
        raise ValueError(f"differences must be 1-D or 2-D, got shape {d.shape}")
    d = d.reshape(len(d), -1)
    m = d.shape[1]
    mean, low, high = (np.full(m, np.nan) for _ in range(3))
    n = np.zeros(m, dtype=np.int64)
    valid = ~np.isnan(d)
    patterns: dict[bytes, list[int]] = {}
    for j in range(m):
        patterns.setdefault(valid[:, j].tobytes(), []).append(j)
    alpha = (1 - confidence) / 2
    for cols in patterns.values():
        x = d[valid[:, cols[0]]][:, cols]
        n[cols] = len(x)
        if len(x) == 0:
            continue
        mean[cols] = x.mean(axis=0)
        if len(x) < 2:
            continue
        means = _bootstrap_means(x, n_resamples, seed)
        low[cols], high[cols] = np.quantile(means, [alpha, 1 - alpha], axis=0)
    return BootstrapCI(mean, low, high, n)


def _bootstrap_means(x: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, M)`` means of resampled rows of ``x`` ``(N, M)``, in memory-bounded chunks.

    A chunk draws ``(b, N)`` row indices, turns them into counts per row with one bincount, and
    averages every column with one matrix product.
    """
    rng = np.random.default_rng(seed)
    k = len(x)
    chunk = max(1, 2_000_000 // k)
    out = np.empty((n_resamples, x.shape[1]))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, k, size=(b, k)) + k * np.arange(b)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * k).reshape(b, k)
        out[start : start + b] = counts @ x / k
    return out


# --------------------------------------------------------------------------- loading


@dataclass
class Job:
    """One results file and what its job left beside it."""

    path: Path  # the job's output directory
    rows: int
    overrides: list[str] = field(default_factory=list)  # .hydra/overrides.yaml
    summary: dict[str, Any] = field(default_factory=dict)  # job.json
    config: str | None = None  # .hydra/config.yaml, as written


@dataclass
class Sweep:
    """The merged rows of one or more sweeps.

    ``frame`` has one row per (sample, iteration) and the keys ``_setting`` (all config columns),
    ``_context`` (all but the FreeInit-only ones), ``_nofreeu`` (all but FreeU's) and ``_plain``
    (all but both), as integer ids.
    """

    roots: list[Path]
    frame: pd.DataFrame
    jobs: list[Job]
    metrics: list[str]
    setting_columns: list[str]  # model, dataset, and every config column that varies
    sweep_configs: dict[str, str]  # multirun.yaml path -> text
    duplicates: int  # rows dropped because another job had the same sample

    def video_file(self, row: pd.Series, column: str = "video_path") -> Path | None:
        """The file a row's ``video_path`` or ``comparison_path`` names, resolved against the
        folder of the results file it came from (an absolute path, from older files, is kept);
        None when the row has none."""
        value = row.get(column) if hasattr(row, "get") else None
        if not isinstance(value, str) or not value:
            return None
        return self.jobs[int(row["_job"])].path / value

    def label(self, row: pd.Series | dict[str, Any], columns: Sequence[str] | None = None) -> str:
        """A short name for a setting: model, dataset and the varying columns' values."""
        columns = self.setting_columns if columns is None else columns
        return ", ".join(
            DATASET_NAMES.get(row[c], row[c]) if c in ("model", "dataset") else f"{c}={fmt(row[c])}"
            for c in columns
            if not _missing(row[c]) or c in ("model", "dataset")
        )


def fmt(value: Any) -> str:
    """A config value for tables: ``0.25``, ``true``, ``-`` for none."""
    if _missing(value):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _canonical(value: Any) -> str:
    """One spelling per config value (None and NaN alike; 1 and 1.0 alike)."""
    if _missing(value):
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(float(value))
    return repr(value)


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
    """Merge every ``results.parquet`` under ``paths``; see the module docstring."""
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
    if "num_inference_steps" in frame and frame["num_inference_steps"].isna().any():
        frame["num_inference_steps"] = frame["num_inference_steps"].fillna(frame["steps"])
    total = len(frame)
    # The same sample in two jobs (a re-run, overlapping sweeps): one row, first values that
    # are present (two jobs may have measured different metrics).
    order = list(frame.columns)
    frame = frame.groupby(["sample_key", "iteration"], sort=False, as_index=False).first()
    frame = frame[order].sort_values(["_job", "prompt_id", "seed", "iteration"], kind="stable")
    frame = frame.reset_index(drop=True)
    metrics = [
        c
        for c in frame.columns
        if c not in ID_COLUMNS
        and c not in CONFIG_COLUMNS
        and not c.startswith("_")
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    for key, drop in zip(
        _KEYS, ((), FREEINIT_COLUMNS, FREEU_COLUMNS, FREEINIT_COLUMNS + FREEU_COLUMNS), strict=True
    ):
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


# --------------------------------------------------------------------------- differences


@dataclass
class Passes:
    """One setting's videos, indexed by (prompt_id, seed): its baseline and every pass."""

    setting: dict[str, Any]
    baseline: pd.DataFrame
    passes: dict[int, pd.DataFrame]
    steps: dict[int, float]  # mean cumulative UNet steps per video through pass k
    baseline_source: str

    @property
    def last(self) -> int:
        return max(self.passes)


def settings(sweep: Sweep) -> Iterator[Passes]:
    """Every setting of the sweep, in sweep order, with its paired baseline."""
    f = sweep.frame
    full0 = f[(f.iteration == 0) & (f.steps >= f.num_inference_steps)]
    for _, rows in f.groupby("_setting", sort=False):
        rows = rows.sort_values("iteration", kind="stable")
        setting = {c: rows[c].iloc[0] for c in CONFIG_COLUMNS}
        cumulative = rows.groupby(["prompt_id", "seed"]).steps.cumsum()
        passes, steps = {}, {}
        for k, r in rows.groupby("iteration"):
            passes[int(k)] = r.set_index(["prompt_id", "seed"])
            steps[int(k)] = float(cumulative[r.index].mean())
        base, source = passes[0], "iteration 0"
        if (base.steps < base.num_inference_steps).any():
            same = full0[full0._context == rows._context.iloc[0]]
            if len(same):
                base = same.drop_duplicates(["prompt_id", "seed"]).set_index(["prompt_id", "seed"])
                source = f"iteration 0 of {sweep.label(same.iloc[0], sweep.setting_columns)}"
            else:
                source = "pass 0 (coarse: no full-step run of this setting in the sweep)"
        yield Passes(setting, base, passes, steps, source)


def _setting_record(sweep: Sweep, setting: dict[str, Any]) -> dict[str, Any]:
    return {"setting": sweep.label(setting)} | {c: setting[c] for c in CONFIG_COLUMNS}


def freeinit_differences(
    sweep: Sweep, *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """FreeInit - baseline for every setting, metric and iteration, with paired bootstrap CIs.

    One row per (setting, metric, iteration): ``setting`` (its label), every config column,
    ``metric``, ``iteration``, ``final`` (the setting's last pass), ``n`` (videos paired),
    ``baseline`` and ``value`` (means over those videos), ``delta`` (mean difference),
    ``ci_low``/``ci_high``, ``steps`` (mean UNet steps per video through this pass, baseline
    included) and ``baseline_source``.
    """
    metrics, records = sweep.metrics, []
    for s in settings(sweep):
        index = s.baseline.index
        for p in s.passes.values():
            index = index.intersection(p.index)
        base = s.baseline.loc[index, metrics].to_numpy(np.float64)
        passes = sorted(s.passes)
        values = [s.passes[k].loc[index, metrics].to_numpy(np.float64) for k in passes]
        ci = paired_bootstrap_ci(
            np.concatenate([v - base for v in values], axis=1),
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
        for i, (k, v) in enumerate(zip(passes, values, strict=True)):
            for j, metric in enumerate(metrics):
                col = i * len(metrics) + j
                ok = ~np.isnan(v[:, j] - base[:, j])
                records.append(
                    _setting_record(sweep, s.setting)
                    | dict(
                        metric=metric,
                        iteration=k,
                        final=k == s.last,
                        n=int(ci.n[col]),
                        baseline=_mean(base[ok, j]),
                        value=_mean(v[ok, j]),
                        delta=float(ci.mean[col]),
                        ci_low=float(ci.low[col]),
                        ci_high=float(ci.high[col]),
                        steps=s.steps[k],
                        baseline_source=s.baseline_source,
                    )
                )
    return pd.DataFrame.from_records(records)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


FREEU_ARMS = ("plain sampling", "FreeInit", "FreeU", "FreeU + FreeInit")


def freeu_differences(
    sweep: Sweep, *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """FreeU, FreeInit and both against plain sampling, paired on prompt and seed.

    Only for sweeps with runs with and without FreeU. For every FreeU setting, and every metric,
    one row per arm (:data:`FREEU_ARMS`): ``plain sampling`` is iteration 0 without FreeU,
    ``FreeInit`` the last pass of the matching run without FreeU, ``FreeU`` this setting's
    iteration 0 and ``FreeU + FreeInit`` its last pass. Columns as
    :func:`freeinit_differences`, with ``arm`` instead of ``iteration``.
    """
    f = sweep.frame
    if not (f.freeu.astype(bool).any() and (~f.freeu.astype(bool)).any()):
        return pd.DataFrame()
    all_settings = list(settings(sweep))
    plain = f[(f.iteration == 0) & (f.steps >= f.num_inference_steps) & ~f.freeu.astype(bool)]
    by_nofreeu = {}
    for s in all_settings:
        if not bool(s.setting["freeu"]):
            by_nofreeu[int(s.passes[0]["_nofreeu"].iloc[0])] = s
    metrics, records = sweep.metrics, []
    for s in all_settings:
        if not bool(s.setting["freeu"]):
            continue
        first = s.passes[0]
        ref = plain[plain._plain == first["_plain"].iloc[0]]
        if ref.empty:
            continue
        ref = ref.drop_duplicates(["prompt_id", "seed"]).set_index(["prompt_id", "seed"])
        arms: dict[str, pd.DataFrame] = {"plain sampling": ref}
        off = by_nofreeu.get(int(first["_nofreeu"].iloc[0]))
        if off is not None and off.last > 0:
            arms["FreeInit"] = off.passes[off.last]
        if (first.steps >= first.num_inference_steps).all():
            arms["FreeU"] = first
        if s.last > 0:
            arms["FreeU + FreeInit"] = s.passes[s.last]
        index = ref.index
        for frame in arms.values():
            index = index.intersection(frame.index)
        base = ref.loc[index, metrics].to_numpy(np.float64)
        values = {a: arms[a].loc[index, metrics].to_numpy(np.float64) for a in arms}
        ci = paired_bootstrap_ci(
            np.concatenate([v - base for v in values.values()], axis=1),
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
        for a, (arm, v) in enumerate(values.items()):
            for j, metric in enumerate(metrics):
                col = a * len(metrics) + j
                records.append(
                    _setting_record(sweep, s.setting)
                    | dict(
                        metric=metric,
                        arm=arm,
                        n=int(ci.n[col]),
                        baseline=_mean(base[~np.isnan(base[:, j]), j]),
                        value=_mean(v[~np.isnan(v[:, j]), j]),
                        delta=float(ci.mean[col]),
                        ci_low=float(ci.low[col]),
                        ci_high=float(ci.high[col]),
                    )
                )
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Delta:
    """A table cell: a mean difference and its CI, printed ``+1.23 [+0.45, +2.01]``."""

    delta: float
    low: float
    high: float
    digits: int = 2
    n: int | None = None  # pairs behind the interval

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0, from at least :data:`MIN_PAIRS` pairs (with fewer,
        the bootstrap interval is too narrow to mark anything)."""
        if self.n is not None and self.n < MIN_PAIRS:
            return False
        return bool(self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        d = self.digits
        if math.isnan(self.delta):
            return "-"
        if math.isnan(self.low):
            return f"{self.delta:+.{d}f}"
        return f"{self.delta:+.{d}f} [{self.low:+.{d}f}, {self.high:+.{d}f}]"


Cell = str | Delta


@dataclass
class Table:
    """A report table: header, rows of cells, notes; rendered as markdown, LaTeX or a frame."""

    name: str  # file stem
    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    metric: str | None = None  # the metric it is about, None for several
    ci: str = "95% CI"  # what the intervals are

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table, title as a heading, notes below."""

        def cell(c: Cell) -> str:
            text = str(c) + (" *" if isinstance(c, Delta) and c.significant else "")
            return text.replace("|", "\\|")

        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(cell(h) for h in self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        notes = [*self.notes]
        if any(isinstance(c, Delta) and c.significant for row in self.rows for c in row):
            notes.append(f"\\* the {self.ci} excludes 0 (marked from {MIN_PAIRS} pairs on).")
        return "\n".join(lines + [""] + [f"{n}  " for n in notes]).rstrip() + "\n"

    def to_latex(self) -> str:
        """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""

        def cell(c: Cell) -> str:
            text = latex_escape(str(c))
            return text + ("$^*$" if isinstance(c, Delta) and c.significant else "")

        spec = "l" + "r" * (len(self.header) - 1)
        lines = [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{{latex_escape(self.title)}}}",
            f"\\label{{tab:{self.name}}}",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(latex_escape(h) for h in self.header) + " \\\\",
            "\\midrule",
            *(" & ".join(cell(c) for c in row) + " \\\\" for row in self.rows),
            "\\bottomrule",
            "\\end{tabular}",
        ]
        notes = [*self.notes]
        if any(isinstance(c, Delta) and c.significant for row in self.rows for c in row):
            notes.append(
                f"$^*$ the {latex_escape(self.ci)} excludes 0 (marked from {MIN_PAIRS} pairs on)."
            )
        if notes:
            text = " ".join(n if n.startswith("$^*$") else latex_escape(n) for n in notes)
            lines.append(f"\\par\\smallskip\\footnotesize {text}")
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """The table as strings, for a notebook."""
        return pd.DataFrame([[str(c) for c in row] for row in self.rows], columns=self.header)


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "≥": r"$\geq$",
    "–": "--",
    "…": r"\ldots{}",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def slug(text: str) -> str:
    """A file-name-safe form of a metric name: ``dino_consistency-pixel``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-")


def _small_n(n: pd.Series, minimum: int = MIN_PAIRS) -> list[str]:
    if len(n) and n.min() < minimum:
        return [
            f"Some rows pair fewer than {minimum} videos: their bootstrap CIs are too narrow, "
            "and none of them is marked significant."
        ]
    return []


def _digits(values: Iterable[float]) -> int:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    scale = max(finite, default=0.0)
    return 2 if scale >= 10 else 3 if scale >= 1 else 4


def _num(value: float, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _groups(
    frame: pd.DataFrame, columns: list[str]
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Sub-frames by ``columns`` in order of appearance (all of it when there are none)."""
    if not columns:
        yield {}, frame
        return
    for values, group in frame.groupby(columns, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(columns, values, strict=True)), group


def _paper_cell(model: str, dataset: str, metric: str, arm: str | None) -> str:
    number = paper_numbers.reported(model, dataset, metric, arm) if arm else None
    return "" if number is None else f"{number.value:.2f}"


def table1(sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI") -> Table:
    """Paper Table 1 layout: per model a baseline row and a row per FreeInit variant, per dataset
    the mean, FreeInit - baseline with its CI, and the paper's number where there is one."""
    final = diffs[(diffs.metric == metric) & diffs.final]
    datasets = list(dict.fromkeys(final.dataset))
    context = [c for c in sweep.setting_columns if c not in ("model", "dataset", *FREEINIT_COLUMNS)]
    variant = [c for c in sweep.setting_columns if c in FREEINIT_COLUMNS]
    digits = _digits(final.baseline)
    paper = any(
        paper_numbers.reported(m, d, metric, "baseline") is not None
        for m in final.model.unique()
        for d in datasets
    )
    header = ["Method"]
    for d in datasets:
        name = DATASET_NAMES.get(d, d)
        header += [name, f"{name} Δ [{ci}]"] + ([f"{name} paper"] if paper else [])
    rows: list[list[Cell]] = []
    ns = {d: set() for d in datasets}
    for values, group in _groups(final, ["model", *context]):
        model = values["model"]
        ctx = sweep.label(values, context)
        row: list[Cell] = [f"{model} ({ctx})" if ctx else model]
        for d in datasets:
            cell = group[group.dataset == d]
            baseline = cell.baseline.iloc[0] if len(cell) else float("nan")
            freeu = bool(cell.freeu.iloc[0]) if "freeu" in cell and len(cell) else False
            row += [_num(baseline, digits), ""]
            if paper:
                row.append("" if freeu else _paper_cell(model, d, metric, "baseline"))
        rows.append(row)
        for vals, v in _groups(group, variant):
            if v.iteration.max() == 0:
                continue  # FreeInit off: the baseline row says it all
            label = sweep.label(vals, variant)
            row = ["+ FreeInit" + (f" ({label})" if label else "")]
            for d in datasets:
                cell = v[v.dataset == d]
                if cell.empty:
                    row += ["", ""] + ([""] if paper else [])
                    continue
                r = cell.iloc[0]
                ns[d].add(int(r.n))
                row += [
                    _num(r.value, digits),
                    Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n)),
                ]
                if paper:
                    setting = {c: r[c] for c in CONFIG_COLUMNS}
                    arm = paper_numbers.freeinit_arm(setting, int(r.iteration))
                    row.append(_paper_cell(model, d, metric, arm))
            rows.append(row)
    notes = [
        "Mean over videos; Δ: FreeInit - baseline on the same prompt and seed, paired bootstrap "
        f"{ci}. n = "
        + "; ".join(
            f"{DATASET_NAMES.get(d, d)} {'/'.join(map(str, sorted(ns[d])))}"
            for d in datasets
            if ns[d]
        )
        + " videos."
    ]
    if paper:
        notes.append(
            f"paper: {paper_numbers.PAPER}, DINO ViT-S/16 x 100. Only AnimateDiff/UCF-101 "
            "baseline is confirmed by the authors; the rest are from secondary notes of the paper "
            "(see evaluation/paper_numbers.py)."
        )
    sources = set(final.baseline_source) - {"iteration 0"}
    notes += [f"Baseline of coarse-to-fine rows: {s}." for s in sorted(sources)]
    notes += _small_n(final.n)
    title = f"Baseline vs FreeInit: {metric}"
    return Table(f"table1_{slug(metric)}", title, header, rows, notes, metric, ci)


def summary_table(sweep: Sweep, diffs: pd.DataFrame, ci: str = "95% CI") -> Table | None:
    """FreeInit - baseline for every metric, a row per setting that runs FreeInit."""
    final = diffs[diffs.final & (diffs.iteration > 0)]
    if final.empty:
        return None
    cols = sweep.setting_columns
    header = [*cols, "n", "UNet steps", *(f"Δ {m}" for m in sweep.metrics)]
    digits = {m: _digits(diffs[diffs.metric == m].baseline) for m in sweep.metrics}
    rows: list[list[Cell]] = []
    first = final[final.metric == sweep.metrics[0]]
    for _, r in first.iterrows():
        same = final[final.setting == r.setting].set_index("metric")
        row: list[Cell] = [fmt(r[c]) for c in cols] + [str(r.n), f"{r.steps:g}"]
        for m in sweep.metrics:
            s = same.loc[m]
            row.append(Delta(s.delta, s.ci_low, s.ci_high, digits[m], int(s.n)))
        rows.append(row)
    notes = [
        f"Δ: last FreeInit pass - baseline, mean over videos with a paired bootstrap {ci}; "
        "UNet steps: denoising steps per video, all passes."
    ]
    notes += _small_n(final.n)
    title = "FreeInit - baseline, every metric"
    return Table("freeinit_vs_baseline", title, header, rows, notes, None, ci)


def iteration_table(
    sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI"
) -> Table | None:
    """Metric vs iteration: a row per setting, a column per pass (mean, and Δ to the baseline)."""
    d = diffs[diffs.metric == metric]
    last = int(d.iteration.max())
    if last == 0:
        return None
    digits = _digits(d.baseline)
    cols = sweep.setting_columns
    header = [*cols, "n", *(f"iter {k}" for k in range(last + 1)), "UNet steps (cumulative)"]
    rows: list[list[Cell]] = []
    for _, first in d[d.iteration == 0].iterrows():
        g = d[d.setting == first.setting].set_index("iteration")
        row: list[Cell] = [fmt(first[c]) for c in cols] + [str(first.n)]
        for k in range(last + 1):
            if k not in g.index:
                row.append("")
                continue
            r = g.loc[k]
            own = k == 0 and r.baseline_source == "iteration 0"
            delta = Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n))
            row.append(_num(r.value, digits) + ("" if own else f" ({delta})"))
        row.append("/".join(f"{g.loc[k].steps:g}" for k in sorted(g.index)))
        rows.append(row)
    notes = [
        "Mean over videos at each FreeInit iteration (0 = plain sampling); in brackets the "
        f"difference to the baseline on the same prompt and seed with its paired bootstrap {ci}."
    ]
    notes += _small_n(d.n)
    title = f"{metric} vs iteration"
    return Table(f"iterations_{slug(metric)}", title, header, rows, notes, metric, ci)


def ablation_table(
    sweep: Sweep, diffs: pd.DataFrame, metric: str, ci: str = "95% CI"
) -> Table | None:
    """A row per setting (the varying columns first): baseline, FreeInit, Δ, steps, paper."""
    factors = [c for c in sweep.setting_columns if c not in ("model", "dataset")]
    if not factors:
        return None
    d = diffs[(diffs.metric == metric) & diffs.final]
    digits = _digits(d.baseline)
    cols = [*factors, "model", "dataset"]
    paper_rows = []
    for _, r in d.iterrows():
        setting = {c: r[c] for c in CONFIG_COLUMNS}
        arm = paper_numbers.freeinit_arm(setting, int(r.iteration)) if r.iteration > 0 else None
        paper_rows.append(_paper_cell(r.model, r.dataset, metric, arm))
    d = d.assign(_paper=paper_rows)
    paper = any(paper_rows)
    header = [*cols, "n", "UNet steps", "baseline", "FreeInit", f"Δ [{ci}]"]
    header += ["paper"] if paper else []
    rows: list[list[Cell]] = []
    for _, r in d.iterrows():
        fi = r.iteration > 0
        row: list[Cell] = [fmt(r[c]) for c in cols] + [str(r.n), f"{r.steps:g}"]
        row += [_num(r.baseline, digits), _num(r.value, digits) if fi else "-"]
        row += [Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n)) if fi else "-"]
        row += [r._paper] if paper else []
        rows.append(row)
    notes = [
        "FreeInit: the last pass; Δ: FreeInit - baseline on the same prompt and seed, paired "
        f"bootstrap {ci}; UNet steps per video, all passes."
    ]
    if paper:
        notes.append(
            "paper: FreeInit's filter ablation / Table 1 (gaussian = GLPF, ideal = ILPF), "
            "secondary notes, see evaluation/paper_numbers.py."
        )
    notes += _small_n(d.n)
    title = f"Ablation ({', '.join(factors)}): {metric}"
    return Table(f"ablation_{slug(metric)}", title, header, rows, notes, metric, ci)


def freeu_table(sweep: Sweep, freeu: pd.DataFrame, metric: str, ci: str = "95% CI") -> Table | None:
    """FreeU x FreeInit: each arm's mean and its difference to plain sampling."""
    if freeu.empty:
        return None
    d = freeu[freeu.metric == metric]
    digits = _digits(d.baseline)
    cols = [c for c in sweep.setting_columns if c not in ("freeu",)]
    header = [*cols, "arm", "n", "mean", f"Δ vs plain sampling [{ci}]"]
    rows: list[list[Cell]] = []
    for _, group in _groups(d, ["setting"]):
        for arm in FREEU_ARMS:
            r = group[group.arm == arm]
            if r.empty:
                continue
            r = r.iloc[0]
            delta: Cell = (
                ""
                if arm == FREEU_ARMS[0]
                else Delta(r.delta, r.ci_low, r.ci_high, digits, int(r.n))
            )
            rows.append([fmt(r[c]) for c in cols] + [arm, str(r.n), _num(r.value, digits), delta])
    notes = [
        "Plain sampling: iteration 0 without FreeU; FreeInit: the last pass without FreeU; FreeU: "
        "iteration 0 with FreeU; FreeU + FreeInit: the last pass with FreeU. Paired on prompt and "
        f"seed, bootstrap {ci}. Factor columns give the FreeU run's values."
    ]
    notes += _small_n(d.n)
    title = f"FreeU x FreeInit: {metric}"
    return Table(f"freeu_{slug(metric)}", title, header, rows, notes, metric, ci)


def primary_metric(metrics: Sequence[str]) -> str:
    """The metric tables and plots lead with: FreeInit's DINO consistency when measured."""
    for test in (
        lambda m: m == paper_numbers.METRIC,
        lambda m: m.startswith("dino_consistency"),
        lambda m: "consistency" in m,
    ):
        found = [m for m in metrics if test(m)]
        if found:
            return found[0]
    return metrics[0]


def build_tables(
    sweep: Sweep, diffs: pd.DataFrame, freeu: pd.DataFrame, confidence: float = 0.95
) -> list[Table]:
    """Every table of the report, primary metric first."""
    first = primary_metric(sweep.metrics)
    metrics = [first] + [m for m in sweep.metrics if m != first]
    ci = f"{confidence:.0%} CI"
    tables: list[Table | None] = [table1(sweep, diffs, m, ci) for m in metrics]
    tables.append(summary_table(sweep, diffs, ci))
    tables += [iteration_table(sweep, diffs, m, ci) for m in metrics]
    tables += [ablation_table(sweep, diffs, m, ci) for m in metrics]
    tables += [freeu_table(sweep, freeu, m, ci) for m in metrics]
    return [t for t in tables if t is not None]


# --------------------------------------------------------------------------- plots


def setting_colours(sweep: Sweep) -> dict[str, str]:
    """One colour per setting label, in sweep order: the same setting has the same colour in
    every panel and plot."""
    labels = dict.fromkeys(sweep.label(s.setting) for s in settings(sweep))
    return {label: f"C{i % 10}" for i, label in enumerate(labels)}


def _short(label: str, limit: int = 90) -> str:
    return label if len(label) < limit else label[: limit - 3] + "..."


def plot_metric_vs_iteration(sweep: Sweep, diffs: pd.DataFrame, confidence: float = 0.95) -> Figure:
    """The change of every metric from the baseline per FreeInit iteration, a line per setting.

    Each point is the mean over videos of (pass k - baseline) on the same prompt and seed, with
    its paired bootstrap CI as error bar: the interval belongs to the change, so the change is
    what is drawn (not the absolute mean). Settings share a colour across panels; lines are
    offset a little along x so that settings with equal values (e.g. the shared passes of a
    ``num_iters`` sweep) stay visible. The legend lists only settings drawn in some panel.
    """
    metrics = sweep.metrics
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = setting_colours(sweep)
    order = {label: i for i, label in enumerate(colours)}
    spread = 0.25 / max(len(colours) - 1, 1) if len(colours) > 1 else 0.0
    drawn: dict[str, Any] = {}
    for ax, metric in zip(axes, metrics, strict=False):
        d = diffs[diffs.metric == metric]
        ax.axhline(0.0, color="0.3", lw=0.8)
        for _, g in _groups(d, ["setting"]):
            g = g.sort_values("iteration")
            label = g.setting.iloc[0]
            if not np.isfinite(g.delta.to_numpy(np.float64)).any():
                continue
            lo = (g.delta - g.ci_low).clip(lower=0).fillna(0)
            hi = (g.ci_high - g.delta).clip(lower=0).fillna(0)
            x = g.iteration + (order[label] - (len(colours) - 1) / 2) * spread
            line = ax.errorbar(
                x,
                g.delta,
                yerr=[lo, hi],
                marker="o",
                ms=4,
                capsize=3,
                lw=1.5,
                color=colours[label],
            )
            drawn.setdefault(label, line)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("FreeInit iteration (0 = baseline)")
        ax.set_ylabel("Δ vs baseline (paired mean)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.axis("off")
    labels = sorted(drawn, key=order.__getitem__)
    fig.legend(
        [drawn[label] for label in labels],
        [_short(label) for label in labels],
        loc="outside lower center",
        ncols=min(3, max(len(labels), 1)),
        fontsize=8,
    )
    fig.suptitle(
        "Change from the baseline per FreeInit iteration\nmean over videos of pass k - baseline "
        f"(same prompt and seed), {confidence:.0%} paired bootstrap CI",
        fontsize=10,
    )
    return fig


def motion_metric(metrics: Sequence[str]) -> str | None:
    """The motion column (mean absolute frame difference), if measured."""
    return next((m for m in metrics if m == "motion" or m.startswith("motion[")), None)


def plot_consistency_vs_motion(sweep: Sweep) -> Figure | None:
    """Per video, consistency against motion at the baseline (grey) and the last pass (colour),
    a panel per model and dataset; arrows join the means. FreeInit's gain in consistency can come
    from less motion: this shows how much."""
    motion = motion_metric(sweep.metrics)
    consistency = primary_metric([m for m in sweep.metrics if m != motion] or [""])
    if motion is None or not consistency:
        return None
    all_settings = list(settings(sweep))
    panels = list(dict.fromkeys((s.setting["model"], s.setting["dataset"]) for s in all_settings))
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(max(7.0, 5 * ncols), 4.4 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = setting_colours(sweep)
    for ax, (model, dataset) in zip(axes, panels, strict=False):
        base_drawn = set()
        for s in all_settings:
            if (s.setting["model"], s.setting["dataset"]) != (model, dataset):
                continue
            base, last = s.baseline, s.passes[s.last]
            index = base.index.intersection(last.index)
            bx, by = base.loc[index, motion], base.loc[index, consistency]
            key = tuple(zip(bx.round(12), by.round(12), strict=True))
            if key not in base_drawn:
                base_drawn.add(key)
                ax.scatter(
                    bx,
                    by,
                    s=16,
                    facecolors="none",
                    edgecolors="0.45",
                    label="baseline" if len(base_drawn) == 1 else None,
                )
            if s.last == 0:
                continue
            color = colours[sweep.label(s.setting)]
            lx, ly = last.loc[index, motion], last.loc[index, consistency]
            label = sweep.label(
                s.setting, [c for c in sweep.setting_columns if c not in ("model", "dataset")]
            )
            ax.scatter(lx, ly, s=14, c=color, label=f"FreeInit {label}".strip())
            ax.annotate(
                "",
                xy=(lx.mean(), ly.mean()),
                xytext=(bx.mean(), by.mean()),
                arrowprops=dict(arrowstyle="->", color=color, lw=2),
            )
        ax.set_title(f"{model}, {DATASET_NAMES.get(dataset, dataset)}", fontsize=10)
        ax.set_xlabel(motion)
        ax.set_ylabel(consistency)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Consistency vs motion per video: baseline (open) -> last pass (filled)")
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    """Everything a report shows, computed once: the merged sweep, differences, tables, plots."""

    sweep: Sweep
    differences: pd.DataFrame  # freeinit_differences
    freeu_differences: pd.DataFrame
    tables: list[Table]
    figures: dict[str, Figure]
    confidence: float = 0.95
    n_resamples: int = 10_000
    seed: int = 0

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.sweep.metrics)

    def table(self, name: str) -> Table:
        """The table with this file name, e.g. ``table1_dino_consistency-pixel``."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"name: no table {name!r}; have {', '.join(t.name for t in self.tables)}")


def build_report(
    *paths: str | Path,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    exclude: Iterable[str | Path] = (),
) -> Report:
    """Load every results file under ``paths`` and compute the tables and plots (no files)."""
    sweep = load_sweep(*paths, exclude=exclude)
    if not sweep.metrics:
        raise ValueError(f"paths: the results under {paths[0]} have no metric columns")
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    diffs = freeinit_differences(sweep, **options)
    freeu = freeu_differences(sweep, **options)
    figures = {"metric_vs_iteration": plot_metric_vs_iteration(sweep, diffs, confidence)}
    motion = plot_consistency_vs_motion(sweep)
    if motion is not None:
        figures["consistency_vs_motion"] = motion
    tables = build_tables(sweep, diffs, freeu, confidence)
    return Report(sweep, diffs, freeu, tables, figures, confidence, n_resamples, seed)


def write_report(
    report: Report,
    out: str | Path,
    *,
    html: bool = True,
    gallery: int | None = 8,
    gallery_height: int = 256,
    videos: str = "inline",
) -> dict[str, Path]:
    """Write tables, CSVs, plots, merged results and ``report.html`` into ``out``.

    ``gallery``: videos per setting in the HTML gallery (None: all); ``gallery_height``: their
    height in pixels (0: as generated); ``videos``: ``inline`` (data URIs) or ``copy`` (files in
    ``out/videos``). Returns the written files by kind.
    """
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for t in report.tables:
        (out / "tables" / f"{t.name}.md").write_text(t.to_markdown())
        (out / "tables" / f"{t.name}.tex").write_text(t.to_latex())
    header = f"# Report: {', '.join(str(r) for r in report.sweep.roots)}\n\n"
    written["markdown"] = out / "tables.md"
    written["markdown"].write_text(header + "\n".join(t.to_markdown() for t in report.tables))
    written["latex"] = out / "tables.tex"
    written["latex"].write_text(
        "% \\usepackage{booktabs}\n" + "\n".join(t.to_latex() for t in report.tables)
    )
    written["differences"] = out / "differences.csv"
    report.differences.to_csv(written["differences"], index=False)
    if not report.freeu_differences.empty:
        written["freeu_differences"] = out / "freeu_differences.csv"
        report.freeu_differences.to_csv(written["freeu_differences"], index=False)
    for name, fig in report.figures.items():
        written[f"plot_{name}"] = out / "plots" / f"{name}.png"
        written[f"plot_{name}"].write_bytes(png_bytes(fig))
    written["results"] = out / "results_merged.parquet"
    frame = report.sweep.frame
    jobs = [str(j.path) for j in report.sweep.jobs]
    frame = frame.assign(job=frame._job.map(jobs.__getitem__)).drop(columns=[*_KEYS, "_job"])
    frame.to_parquet(written["results"], index=False)
    if html:
        from evaluation.report_html import write_html

        written["html"] = write_html(
            report, out, gallery=gallery, gallery_height=gallery_height, videos=videos
        )
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evaluation.report SWEEP [SWEEP ...]``: write the report, print its tables."""
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.report",
        description="Tables (markdown, LaTeX), plots and report.html for one or more sweeps.",
    )
    parser.add_argument("paths", nargs="+", help="sweep or job directories, or results.parquet")
    parser.add_argument("--out", help="output directory (default: <first path>/report)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--gallery", type=int, default=8, help="videos per setting (0: all)")
    parser.add_argument("--gallery-height", type=int, default=256, help="pixels (0: original)")
    parser.add_argument("--videos", choices=("inline", "copy"), default="inline")
    parser.add_argument("--no-html", action="store_true", help="skip report.html")
    args = parser.parse_args(argv)
    first = Path(args.paths[0])
    out = Path(args.out) if args.out else (first if first.is_dir() else first.parent) / "report"
    try:
        report = build_report(
            *args.paths,
            confidence=args.confidence,
            n_resamples=args.resamples,
            seed=args.seed,
            exclude=[out],
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = write_report(
        report,
        out,
        html=not args.no_html,
        gallery=args.gallery or None,
        gallery_height=args.gallery_height,
        videos=args.videos,
    )
    sweep = report.sweep
    print(
        f"{len(sweep.jobs)} results files, {sweep.frame.sample_key.nunique()} videos, "
        f"{len(sweep.frame)} rows ({sweep.duplicates} duplicates dropped)\n"
    )
    print(report.tables[0].to_markdown())
    for kind, path in written.items():
        print(f"{kind:>18}: {path}")
    return 0


if __name__ == "__main__":
    # Run as the package module, so that report_html's imports see the same classes.
    from evaluation.report import main as _main

    sys.exit(_main())
