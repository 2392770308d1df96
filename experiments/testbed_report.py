"""The testbed results' table and figures, from the merged results of
:mod:`experiments.testbed_results`' jobs.

One row per method and iteration: plain sampling (means), then every refinement pass of each
refining method (FreeInit per filter, FreqPrior, and the combinations with FreeU / ByTheWay) and
the one-pass methods (FreeU, ByTheWay). Every row but plain sampling is the paired difference to
plain sampling of the same prompt and seed (iteration 0 with no model-level method: the same
initial noise), with a percentile-bootstrap CI (:func:`evaluation.report.statistics.
paired_bootstrap_ci`), and the UNet steps per video of a run that ends at that pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report.pairing import setting_passes
from evaluation.report.plots import png_bytes
from evaluation.report.statistics import MIN_PAIRS, paired_bootstrap_ci
from evaluation.report.zoo import CONTEXT_COLUMNS, PLAIN
from evaluation.results import MODEL_METHODS, Sweep, missing
from freqlab.atomic import write_atomic

# The table's columns (the four quantities: judge accuracy, learned-feature consistency,
# pixel consistency, motion), in order.
TABLE_METRICS = (
    "testbed_accuracy",
    "testbed_all4",
    "dino_consistency[testbed_judge]",
    "dino_consistency[pixel]",
    "motion",
)
ROW_COLUMNS = [
    "method",
    "iteration",
    "metric",
    "n",
    "unet_steps",
    "base",
    "value",
    "diff",
    "lo",
    "hi",
]


def _on(setting: Any, column: str) -> bool:
    value = setting.get(column)
    return not missing(value) and bool(value)


def method_label(setting: dict[str, Any], refined: bool) -> str:
    """``"FreeInit gaussian"``, ``"FreqPrior + ByTheWay"``, ``"FreeU"``, ... or :data:`PLAIN`:
    the refining loop (with FreeInit's filter, since the sweeps run two) when the run refines,
    then the model-level methods that are on."""
    parts = []
    if refined:
        parts.append("FreqPrior" if _on(setting, "freqprior") else f"FreeInit {setting['method']}")
    parts += [name for name, column in MODEL_METHODS.items() if _on(setting, column)]
    return " + ".join(parts) or PLAIN


def _context(frame: pd.DataFrame) -> pd.Series:
    cols = [c for c in CONTEXT_COLUMNS if c in frame]
    return frame[cols].astype(str).agg("|".join, axis=1)


def _plain_reference(sweep: Sweep) -> pd.DataFrame:
    """Plain sampling: full-step iteration 0 with no model-level method (every FreeInit and
    FreqPrior run's pass 0 is one), with a ``_ctx`` column."""
    f = sweep.frame
    plain = f[(f.iteration == 0) & (f.steps >= f.num_inference_steps)]
    for column in MODEL_METHODS.values():
        if column in plain:
            plain = plain[~plain[column].map(lambda v: not missing(v) and bool(v))]
    return plain.assign(_ctx=_context(plain))


def method_rows(
    sweep: Sweep, metrics: Sequence[str] | None = None, *, n_resamples: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Long frame of :data:`ROW_COLUMNS`: one row per (method, iteration, metric).

    ``base``/``value``: means over the paired videos of plain sampling and of the method's pass;
    ``diff``, ``lo``, ``hi``: the mean paired difference and its 95% CI (NaN on the plain row);
    ``unet_steps``: mean UNet steps per video through that pass. A (method, iteration) met twice
    (the method zoo's FreeInit is the butterworth sweep's passes 1-2, from the same cache
    entries) is kept once, the first. Metrics: ``metrics`` (default: every measured one) that
    the sweep has.
    """
    metrics = [m for m in (metrics or sweep.metrics) if m in sweep.metrics]
    plain = _plain_reference(sweep)
    if plain.empty or not metrics:
        return pd.DataFrame(columns=ROW_COLUMNS)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for context, ref in plain.groupby("_ctx", sort=False):
        ref = ref.drop_duplicates(["prompt_id", "seed"]).set_index(["prompt_id", "seed"])
        base = ref[metrics].to_numpy(np.float64)
        for j, metric in enumerate(metrics):
            records.append(
                dict(method=PLAIN, iteration=0, metric=metric, n=int((~np.isnan(base[:, j])).sum()))
                | dict(unet_steps=float(ref.unet_steps.mean()), base=np.nanmean(base[:, j]))
                | dict(value=np.nanmean(base[:, j]), diff=np.nan, lo=np.nan, hi=np.nan)
            )
        for s in setting_passes(sweep):
            first = s.passes[0]
            if _context(first.reset_index()).iloc[0] != context:
                continue
            refined = s.last > 0
            label = method_label(s.setting, refined)
            # A refining run's pass 0 is plain sampling or a one-pass method run on its own.
            iterations = range(1, s.last + 1) if refined else [0]
            for k in iterations:
                if label == PLAIN or (label, k) in seen:
                    continue
                seen.add((label, k))
                p = s.passes[k]
                index = ref.index.intersection(p.index)
                b = ref.loc[index, metrics].to_numpy(np.float64)
                v = p.loc[index, metrics].to_numpy(np.float64)
                ci = paired_bootstrap_ci(v - b, n_resamples=n_resamples, seed=seed)
                for j, metric in enumerate(metrics):
                    ok = ~np.isnan(v[:, j] - b[:, j])
                    records.append(
                        dict(method=label, iteration=k, metric=metric, n=int(ci.n[j]))
                        | dict(unet_steps=s.steps[k], base=_mean(b[ok, j]), value=_mean(v[ok, j]))
                        | dict(diff=float(ci.mean[j]), lo=float(ci.low[j]), hi=float(ci.high[j]))
                    )
    return pd.DataFrame.from_records(records, columns=ROW_COLUMNS)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def _digits(base: float) -> int:
    # Consistency scores are on a 0-100 scale, the rest on 0-1: two decimals there, four here.
    return 2 if np.isfinite(base) and abs(base) >= 10 else 4


def _cell(r: pd.Series, digits: int) -> str:
    if r.method == PLAIN:
        return f"{r.value:.{digits}f}"
    if np.isnan(r["diff"]):
        return "–"
    if np.isnan(r.lo):  # one pair: no interval
        return f"{r['diff']:+.{digits}f}"
    star = " *" if r.n >= MIN_PAIRS and (r.lo > 0 or r.hi < 0) else ""
    return f"{r['diff']:+.{digits}f} [{r.lo:+.{digits}f}, {r.hi:+.{digits}f}]{star}"


def markdown(rows: pd.DataFrame, about: str) -> str:
    """The table: a row per (method, iteration), columns n, UNet steps and each metric's
    change (plain sampling: its means); ``about`` is the paragraph above it."""
    metrics = list(dict.fromkeys(rows.metric))
    lines = [
        about,
        "",
        "| method | iteration | n | UNet steps | " + " | ".join(f"Δ {m}" for m in metrics) + " |",
        "|---|---|---|---|" + "---|" * len(metrics),
    ]
    plain = rows[rows.method == PLAIN].set_index("metric")
    digits = {m: _digits(plain.base.get(m, np.nan)) for m in metrics}
    for (method, it), g in rows.groupby(["method", "iteration"], sort=False):
        g = g.set_index("metric")
        cells = [_cell(g.loc[m].rename(m), digits[m]) if m in g.index else "–" for m in metrics]
        # n: the pairs of the first metric (every metric is measured on every video).
        n = int(g.n.iloc[0])
        lines.append(
            f"| {method} | {it} | {n} | {g.unet_steps.iloc[0]:g} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Plain sampling's row: means. Every other row: that pass minus plain sampling (iteration 0, "
        "no method: the same initial noise) of the same prompt and seed, mean with a "
        "percentile-bootstrap 95% CI; `*`: the CI excludes 0 (marked from "
        f"{MIN_PAIRS} pairs on). UNet steps: per video, every pass through this one, as the "
        "method spends them (FreqPrior's earlier passes stop at its mid_step).",
    ]
    return "\n".join(lines) + "\n"


def _refined(rows: pd.DataFrame) -> list[str]:
    its = rows.groupby("method", sort=False).iteration.max()
    return [m for m, k in its.items() if k > 0]


def plot_iterations(rows: pd.DataFrame, path: Path) -> None:
    """Paired change vs iteration with 95% CIs, one panel per metric: a line per refining
    method, a point at iteration 0 per one-pass method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(rows.metric))
    methods = [m for m in dict.fromkeys(rows.method) if m != PLAIN]
    refined = set(_refined(rows))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.0 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(methods):
            d = rows[(rows.method == method) & (rows.metric == metric)]
            offset = (i - len(methods) / 2) * 0.04  # keep overlapping error bars apart
            ax.errorbar(
                d.iteration + offset,
                d["diff"],
                yerr=[(d["diff"] - d.lo).clip(lower=0), (d.hi - d["diff"]).clip(lower=0)],
                marker="o" if method in refined else "s",
                ls="-" if method in refined else "none",
                ms=4,
                capsize=2,
                color=f"C{i % 10}",
                label=method,
            )
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("iteration (pass)")
        ax.set_xticks(range(0, int(rows.iteration.max()) + 1))
    axes[0, 0].set_ylabel("change vs plain sampling (95% CI)")
    axes[0, -1].legend(fontsize=6, loc="best")
    n = int(rows[rows.method == PLAIN].n.max())
    fig.suptitle(f"testbed: every method vs plain sampling, {n} prompt x seed pairs", fontsize=10)
    fig.tight_layout()
    write_atomic(path, png_bytes(fig))
    plt.close(fig)


def plot_tradeoff(rows: pd.DataFrame, path: Path, motion: str = "motion") -> bool:
    """Each method's last pass: change in motion (x) against the change in each other table
    metric (y, a panel each), 95% CIs along both axes. False when the rows lack ``motion``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in dict.fromkeys(rows.metric) if m != motion]
    if motion not in set(rows.metric) or not metrics:
        return False
    last = rows[rows.method != PLAIN]
    last = last[last.iteration == last.groupby("method").iteration.transform("max")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    methods = list(dict.fromkeys(last.method))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(methods):
            x = last[(last.method == method) & (last.metric == motion)].iloc[0]
            y = last[(last.method == method) & (last.metric == metric)].iloc[0]
            ax.errorbar(
                x["diff"],
                y["diff"],
                xerr=[[max(x["diff"] - x.lo, 0)], [max(x.hi - x["diff"], 0)]],
                yerr=[[max(y["diff"] - y.lo, 0)], [max(y.hi - y["diff"], 0)]],
                fmt="o",
                ms=5,
                capsize=2,
                color=f"C{i % 10}",
                label=f"{method} ({x.iteration}, {x.unet_steps:g} steps)",
            )
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.plot([0], [0], marker="s", color="0.3", ls="none", label=PLAIN)
        ax.set_xlabel(f"Δ {motion}")
        ax.set_ylabel(f"Δ {metric}")
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=6)
    fig.suptitle("each method's last pass vs plain sampling (the origin), 95% CIs", fontsize=10)
    fig.tight_layout()
    write_atomic(path, png_bytes(fig))
    plt.close(fig)
    return True


def figure_arms(sweep: Sweep, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The sample figure's rows: plain sampling, then every method's last pass in the table
    (label, its results rows indexed by (prompt_id, seed))."""
    plain = _plain_reference(sweep).drop_duplicates(["prompt_id", "seed"])
    arms = [(PLAIN, plain.set_index(["prompt_id", "seed"]))]
    last = rows[rows.method != PLAIN].groupby("method", sort=False).iteration.max()
    shown = {PLAIN}
    for s in setting_passes(sweep):
        label = method_label(s.setting, s.last > 0)
        if label in last.index and s.last == last[label] and label not in shown:
            shown.add(label)
            steps = s.steps[s.last]
            name = f"{label}\niteration {s.last}, {steps:g} steps" if s.last else label
            arms.append((name, s.passes[s.last]))
    order = {m: i for i, m in enumerate([PLAIN, *last.index])}
    return sorted(arms, key=lambda a: order[a[0].split("\n")[0]])


def sample_figure(
    sweep: Sweep, rows: pd.DataFrame, path: Path, prompt_ids: Sequence[str], seed: int = 0
) -> list[str]:
    """Frames of the same prompts and seed for every method, decoded from the cached latents
    the table measured (no sampling): one row per method, each prompt's frames across.

    Returns the row labels (the methods shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from experiments.cache import PassCache
    from freqlab.models import load_model
    from freqlab.vae import decode_latents

    arms = figure_arms(sweep, rows)
    keys = [(p, seed) for p in prompt_ids if all((p, seed) in a.index for _, a in arms)]
    if not keys:
        raise ValueError(f"no prompt of {list(prompt_ids)} with seed {seed} in every method's runs")
    first = arms[0][1].loc[keys[0]]
    cache = PassCache(sweep.jobs[int(first["_job"])].summary["cache_dir"])
    pipe = load_model(str(first["model"]), device="cpu")
    mosaics = []
    for _, frame in arms:
        latents = []
        for key in keys:
            record = cache.load(str(frame.loc[key, "pass_key"]))
            if record is None:
                raise FileNotFoundError(f"pass {frame.loc[key, 'pass_key']} is not in {cache.root}")
            latents.append(cache.latents(record))
        with torch.no_grad():
            videos = decode_latents(pipe, torch.stack(latents)).clamp(0, 1).cpu().numpy()
        # (B, T, C, H, W) -> one strip per prompt (H, T*W, C), white gaps between prompts.
        strips = [np.concatenate(list(v.transpose(0, 2, 3, 1)), axis=1) for v in videos]
        gap = np.ones((strips[0].shape[0], 6, strips[0].shape[2]))
        mosaics.append(np.concatenate([x for s in strips for x in (s, gap)][:-1], axis=1))
    height, width = mosaics[0].shape[:2]
    scale = 0.022  # inches per pixel
    fig, axes = plt.subplots(
        len(arms), 1, figsize=(width * scale + 2.0, len(arms) * (height * scale + 0.12) + 0.5)
    )
    axes = np.atleast_1d(axes)
    for ax, (label, _), image in zip(axes, arms, mosaics, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    strip = (width + 6) / len(keys)
    for i, key in enumerate(keys):
        text = arms[0][1].loc[key, "prompt"]
        axes[0].text(i * strip + strip / 2 - 3, -4, text, fontsize=6.5, ha="center", va="bottom")
    fig.subplots_adjust(left=2.0 / fig.get_figwidth(), right=0.99, top=0.95, bottom=0.01)
    write_atomic(path, png_bytes(fig))
    plt.close(fig)
    return [label.split("\n")[0] for label, _ in arms]
