"""The report's plots: the paired change per FreeInit iteration, and consistency against motion.

Every plot gives a setting the same colour (:func:`setting_colours`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.report.pairing import setting_passes
from evaluation.report.tables import frame_groups, primary_metric
from evaluation.results import DATASET_NAMES, Sweep


def setting_colours(sweep: Sweep) -> dict[str, str]:
    """One colour per setting label, in sweep order: the same setting has the same colour in
    every panel and plot."""
    labels = dict.fromkeys(sweep.label(s.setting) for s in setting_passes(sweep))
    return {label: f"C{i % 10}" for i, label in enumerate(labels)}


def _short(label: str, limit: int = 90) -> str:
    return label if len(label) < limit else label[: limit - 3] + "..."


def plot_metric_vs_iteration(sweep: Sweep, diffs: pd.DataFrame, confidence: float = 0.95) -> Figure:
    """The change of every metric from the baseline per FreeInit / FreqPrior iteration, a line per
    setting.

    Each point is the mean over videos of (pass k - baseline) on the same prompt and seed, with
    its paired bootstrap CI as error bar: the interval belongs to the change, so the change is
    what is drawn (not the absolute mean). Settings share a colour across panels; lines are
    offset a little along x so that settings with equal values (e.g. the shared passes of a
    ``num_iters`` sweep) stay visible. The legend lists only settings drawn in some panel.
    """
    metrics = sweep.metrics
    refiners = sweep.samplers()  # FreeInit, FreqPrior or both
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
        for _, g in frame_groups(d, ["setting"]):
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
        ax.set_xlabel(f"{refiners} iteration (0 = baseline)")
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
        f"Change from the baseline per {refiners} iteration\nmean over videos of pass k - baseline "
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
    all_settings = list(setting_passes(sweep))
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
            ax.scatter(lx, ly, s=14, c=color, label=f"{sweep.sampler(s.setting)} {label}".strip())
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
