"""Pairing: each setting's passes with the baseline on the same prompt and seed, and their
differences with paired bootstrap CIs.

The baseline is the setting's own iteration 0, except for coarse-to-fine runs, whose pass 0 has
fewer steps: they are paired with iteration 0 of a full-step run of the same context (every
config column but the refinement-only ones, :data:`evaluation.results.REFINEMENT_COLUMNS`) when
the sweep has one. FreeU, FreeInit and both are compared with plain sampling (no FreeU,
iteration 0) when a sweep has runs with and without FreeU.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report.statistics import paired_bootstrap_ci
from evaluation.results import CONFIG_COLUMNS, Sweep


@dataclass
class Passes:
    """One setting's videos, indexed by (prompt_id, seed): its baseline and every pass."""

    setting: dict[str, Any]
    baseline: pd.DataFrame
    passes: dict[int, pd.DataFrame]
    steps: dict[int, float]  # mean UNet steps per video of a run ending at pass k (unet_steps)
    baseline_source: str

    @property
    def last(self) -> int:
        return max(self.passes)


def setting_passes(sweep: Sweep) -> Iterator[Passes]:
    """The passes of every setting of the sweep, in sweep order, each with its paired baseline."""
    f = sweep.frame
    full0 = f[(f.iteration == 0) & (f.steps >= f.num_inference_steps)]
    for _, rows in f.groupby("_setting", sort=False):
        rows = rows.sort_values("iteration", kind="stable")
        setting = {c: rows[c].iloc[0] for c in CONFIG_COLUMNS}
        passes, steps = {}, {}
        for k, r in rows.groupby("iteration"):
            passes[int(k)] = r.set_index(["prompt_id", "seed"])
            steps[int(k)] = float(r.unet_steps.mean())
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
    for s in setting_passes(sweep):
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
    all_settings = list(setting_passes(sweep))
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
