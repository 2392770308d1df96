"""The method comparison: every method's result against plain sampling on the same prompts and
seeds (``experiment=method_zoo``), as differences, a table and a trade-off plot.

A setting's *method* is named by what it runs (:func:`method_name`): its sampling loop when it
refines (FreeInit with more than one pass, FreqPrior) and the model-level methods that are on
(FreeU, ByTheWay, FreeNoise, FreeLong), joined by ``+``; ``plain sampling`` when none. Its result
is its last pass. The reference is plain sampling in the same context (model, prompts, frames,
size, steps, guidance, dtype): iteration 0 of a full-step run with no model-level method, which is
the same noise and the same video in every such run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.report.pairing import setting_passes
from evaluation.report.statistics import paired_bootstrap_ci
from evaluation.results import MODEL_METHODS, RUN, SAMPLING, Sweep, missing

PLAIN = "plain sampling"
# What must match between a method's run and its plain reference.
CONTEXT_COLUMNS = RUN.names + SAMPLING.names


def _on(setting: Any, column: str) -> bool:
    value = setting.get(column) if hasattr(setting, "get") else None
    return not missing(value) and bool(value)


def method_name(setting: Any, refined: bool) -> str:
    """``"FreeInit + ByTheWay"``, ``"FreqPrior"``, ``"FreeU"``, ... or :data:`PLAIN`.

    Args:
        setting: a row (or dict) of config columns.
        refined: whether the run has refinement passes (its last pass is not iteration 0).
    """
    parts = []
    if refined:
        parts.append("FreqPrior" if _on(setting, "freqprior") else "FreeInit")
    parts += [name for name, column in MODEL_METHODS.items() if _on(setting, column)]
    return " + ".join(parts) or PLAIN


def _context(frame: pd.DataFrame) -> pd.Series:
    cols = [c for c in CONTEXT_COLUMNS if c in frame]
    return frame[cols].astype(str).agg("|".join, axis=1)


def method_differences(
    sweep: Sweep, *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Each method's last pass minus plain sampling, per metric, with paired bootstrap CIs.

    One row per (setting, metric): ``method``, the context columns, ``metric``, ``n`` (videos
    paired), ``baseline`` / ``value`` (means over them), ``delta``, ``ci_low``/``ci_high``,
    ``unet_steps`` (mean per video, through the last pass) and ``unet_ratio`` (over plain
    sampling's). Empty unless the sweep has two methods or more (plain sampling counts) and a
    plain reference in their context.
    """
    f = sweep.frame
    plain_rows = f[(f.iteration == 0) & (f.steps >= f.num_inference_steps)]
    for column in MODEL_METHODS.values():
        if column in plain_rows:
            plain_rows = plain_rows[~plain_rows[column].map(lambda v: not missing(v) and bool(v))]
    if plain_rows.empty:
        return pd.DataFrame()
    plain_context = _context(plain_rows)
    metrics, records = sweep.metrics, []
    for s in setting_passes(sweep):
        last = s.passes[s.last]
        name = method_name(s.setting, s.last > 0)
        context = _context(last.reset_index()).iloc[0]
        ref = plain_rows[plain_context == context]
        if ref.empty:
            continue
        ref = ref.drop_duplicates(["prompt_id", "seed"]).set_index(["prompt_id", "seed"])
        index = ref.index.intersection(last.index)
        base = ref.loc[index, metrics].to_numpy(np.float64)
        value = last.loc[index, metrics].to_numpy(np.float64)
        ci = paired_bootstrap_ci(
            value - base, confidence=confidence, n_resamples=n_resamples, seed=seed
        )
        plain_steps = float(ref.loc[index, "unet_steps"].mean())
        steps = float(last.loc[index, "unet_steps"].mean())
        for j, metric in enumerate(metrics):
            ok = ~np.isnan(value[:, j] - base[:, j])
            records.append(
                dict(
                    method=name,
                    setting=sweep.label(s.setting),
                    **{c: s.setting.get(c) for c in CONTEXT_COLUMNS},
                    metric=metric,
                    n=int(ci.n[j]),
                    baseline=float(base[ok, j].mean()) if ok.any() else float("nan"),
                    value=float(value[ok, j].mean()) if ok.any() else float("nan"),
                    delta=float(ci.mean[j]),
                    ci_low=float(ci.low[j]),
                    ci_high=float(ci.high[j]),
                    unet_steps=steps,
                    unet_ratio=steps / plain_steps if plain_steps else float("nan"),
                )
            )
    out = pd.DataFrame.from_records(records)
    if out.empty or out.method.nunique() < 2:  # one method (e.g. a FreeInit ablation): no zoo
        return pd.DataFrame()
    return out


def plot_method_tradeoff(
    zoo: pd.DataFrame, consistency: str, motion: str, confidence: float = 0.95
) -> Figure | None:
    """Consistency against motion, one point per method: the paired change from plain
    sampling (at the origin) with its CI along both axes, a panel per model and dataset. Over-
    smoothing (more consistency, less motion) lies up and to the left."""
    if zoo.empty or not {consistency, motion} <= set(zoo.metric):
        return None
    panels = list(dict.fromkeys(zip(zoo.model, zoo.dataset, strict=True)))
    fig = Figure(figsize=(5.2 * len(panels), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)).ravel()
    methods = list(dict.fromkeys(zoo.method))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, (model, dataset) in zip(axes, panels, strict=True):
        panel = zoo[(zoo.model == model) & (zoo.dataset == dataset)]
        for method, g in panel.groupby("method", sort=False):
            if method == PLAIN:
                continue  # the origin, drawn once below
            x, y = (g[g.metric == m].iloc[0] for m in (motion, consistency))
            ax.errorbar(
                x.delta,
                y.delta,
                xerr=[[max(x.delta - x.ci_low, 0)], [max(x.ci_high - x.delta, 0)]],
                yerr=[[max(y.delta - y.ci_low, 0)], [max(y.ci_high - y.delta, 0)]],
                fmt="o",
                ms=6,
                capsize=3,
                color=colours[method],
                label=f"{method} ({x.unet_ratio:.2g}x UNet)",
            )
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.plot([0], [0], marker="s", color="0.3", ls="none", label=PLAIN)
        ax.set_title(f"{model}, {dataset}", fontsize=10)
        ax.set_xlabel(f"Δ {motion} vs plain sampling")
        ax.set_ylabel(f"Δ {consistency} vs plain sampling")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Consistency against motion per method\npaired change from plain sampling (the origin), "
        f"{confidence:.0%} bootstrap CI",
        fontsize=10,
    )
    return fig
