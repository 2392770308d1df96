"""The figures of ``task=snr`` and its results directory read back (:func:`load_results`).

The job (:mod:`experiments.snr`) writes the tables of :mod:`freqlab.spectrum` as parquet and draws
them with :func:`plot_snr_heatmap`, :func:`plot_first_step` and :func:`plot_band_correlation`;
``notebooks/snr_analysis.ipynb`` reads a run back with :func:`load_results` and draws the same
figures. Plain matplotlib and pandas: no Hydra here, so a notebook imports it cheaply.

``-inf`` dB (no signal: zero terminal SNR, sigma = 1) is drawn at one floor (:func:`snr_floor_db`,
labelled "≤ X dB (-inf)") in both SNR figures.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_FLOOR_DB",
    "RESULT_FILES",
    "SNRResults",
    "load_results",
    "plot_band_correlation",
    "plot_first_step",
    "plot_snr_heatmap",
    "snr_floor_db",
]

# The files a task=snr job writes into its output directory.
RESULT_FILES = dict(
    snr="snr.parquet",
    first_step="snr_first_step.parquet",
    bands="bands.parquet",
    correlation="correlation.parquet",
    videos="videos.parquet",
    levels="snr_levels.parquet",
    summary="job.json",
    heatmap="snr_heatmap.png",
    first_step_plot="snr_first_step.png",
    correlation_plot="correlation.png",
)


# --------------------------------------------------------------------------- figures


def _pyplot() -> Any:
    # matplotlib picks a headless backend by itself where there is no display, and the inline one
    # in notebooks; forcing Agg here would break the latter.
    import matplotlib.pyplot as plt

    return plt


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted ``centres`` (midpoints; half a gap beyond the ends)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


DEFAULT_FLOOR_DB = -100.0


def snr_floor_db(*tables: pd.DataFrame, margin: float = 10.0) -> float:
    """Where figures draw ``-inf`` dB (no signal): :data:`DEFAULT_FLOOR_DB`, or lower when a
    finite ``snr_db`` of any of ``tables`` comes within ``margin`` dB of it (rounded down to 10 dB).

    Pass every table a set of figures shows, so that they all draw ``-inf`` at the same level.
    """
    values = np.concatenate([t.snr_db.to_numpy(dtype=np.float64) for t in tables] or [[]])
    finite = values[np.isfinite(values)]
    lowest = float(finite.min()) if finite.size else 0.0
    return min(DEFAULT_FLOOR_DB, 10.0 * math.floor((lowest - margin) / 10.0))


def _floor_label(floor: float) -> str:
    return f"≤ {floor:.0f} dB (-inf: no signal)"


def _caption(fig: Any, text: str) -> None:
    """A wrapped caption under the figure (saved with ``bbox_inches="tight"``)."""
    fig.text(0.01, -0.02, text, ha="left", va="top", wrap=True, fontsize=8.5)


def plot_snr_heatmap(snr: pd.DataFrame, floor_db: float | None = None) -> Any:
    """Band x timestep heatmaps of ``snr_db``, one panel per schedule, shared colour scale.

    Red is above 0 dB (signal dominates), blue below; the black line is the 0 dB contour, where
    the band's signal and noise have equal power. ``-inf`` (no signal) is drawn at ``floor_db``
    (default: :func:`snr_floor_db` of ``snr``), the bottom of the colour bar, labelled as such.

    Returns:
        A matplotlib Figure.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D

    plt = _pyplot()
    names = list(dict.fromkeys(snr.schedule))
    values = snr.snr_db.to_numpy(dtype=np.float64)
    floor = snr_floor_db(snr) if floor_db is None else float(floor_db)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    vmin, vmax = min(floor, -1.0), max(top, 1.0)
    norm = TwoSlopeNorm(vmin=vmin, vcenter=0.0, vmax=vmax)
    fig, axes = plt.subplots(
        1, len(names), figsize=(3.6 * len(names) + 1.0, 3.6), squeeze=False, sharey=True
    )
    mesh = None
    contour = False
    for ax, name in zip(axes[0], names, strict=True):
        table = snr[snr.schedule == name].pivot(index="band", columns="timestep", values="snr_db")
        grid = table.to_numpy(dtype=np.float64)
        grid = np.where(np.isneginf(grid), floor, grid)
        steps = table.columns.to_numpy(dtype=np.float64)
        yedges = _edges(table.index.to_numpy(dtype=np.float64))
        mesh = ax.pcolormesh(
            _edges(steps), yedges, np.clip(grid, vmin, vmax), cmap="RdBu_r", norm=norm
        )
        if np.nanmin(grid) < 0 < np.nanmax(grid) and len(steps) > 1:
            ax.contour(steps, table.index, grid, levels=[0.0], colors="k", linewidths=1.0)
            contour = True
        kind = snr[snr.schedule == name].kind.iloc[0]
        ax.set_title(f"{name} ({kind})")
        ax.set_xlabel("timestep t")
    axes[0][0].set_ylabel("frequency band (0 = lowest)")
    bar = fig.colorbar(mesh, ax=list(axes[0]), extend="min")
    bar.set_label("SNR of z_t in the band (dB)")
    bar.set_ticks(sorted({*bar.get_ticks(), floor}))
    bar.ax.set_ylim(vmin, vmax)
    labels = [_floor_label(floor) if t == floor else f"{t:g}" for t in bar.get_ticks()]
    bar.set_ticklabels(labels)
    if contour:
        axes[0][-1].legend(
            [Line2D([], [], color="k", lw=1.0)],
            ["0 dB: signal = noise"],
            loc="upper right",
            fontsize="small",
        )
    _caption(
        fig,
        "Per-band SNR of the noised latent z_t = √a_t z_0 + √(1-a_t) ε. Black line: the 0 dB "
        "contour, where a band's signal and noise have equal power; to its left (smaller t) the "
        "signal dominates. Low bands stay above it up to large t: the low-frequency signal that "
        f"training leaves in z_T and sampling does not. The darkest blue, {_floor_label(floor)}, "
        "includes -inf: timesteps with no signal at all (zero terminal SNR, σ = 1).",
    )
    return fig


def _same_curves(first: pd.DataFrame) -> list[list[str]]:
    """Schedules grouped by equal first-step SNR curves (e.g. the model's own = ``linear``)."""
    groups: list[tuple[np.ndarray, list[str]]] = []
    for name, group in first.groupby("schedule", sort=False):
        y = group[group.bins > 0].sort_values("band").snr_db.to_numpy(dtype=np.float64)
        for curve, names in groups:
            if curve.shape == y.shape and np.allclose(curve, y, rtol=0, atol=1e-9, equal_nan=True):
                names.append(name)
                break
        else:
            groups.append((y, [name]))
    return [names for _, names in groups]


def plot_first_step(first: pd.DataFrame, floor_db: float | None = None) -> Any:
    """SNR against band at each schedule's first sampling timestep; 0 dB dashed.

    Bands above the dashed line start sampling with more signal than noise: the low-frequency
    leak FreeInit exploits. A schedule with no signal (``-inf``) is drawn dotted at ``floor_db``
    (default: :func:`snr_floor_db` of ``first``), whose tick says so. Schedules with equal curves are
    drawn once and named together (``model = linear``), so none hides behind another.

    Returns:
        A matplotlib Figure.
    """
    plt = _pyplot()
    floor = snr_floor_db(first) if floor_db is None else float(floor_db)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    markers = "osD^vP*X"
    by_name = {name: g for name, g in first.groupby("schedule", sort=False)}
    for i, names in enumerate(_same_curves(first)):
        group = by_name[names[0]]
        group = group[group.bins > 0].sort_values("band")
        y = group.snr_db.to_numpy(dtype=np.float64)
        label = " = ".join(
            f"{n} (t={by_name[n].timestep.iloc[0]:g} of {by_name[n].num_inference_steps.iloc[0]})"
            for n in names
        )
        style = dict(marker=markers[i % len(markers)], markersize=6)
        if np.isneginf(y).all():
            ax.plot(group.band, np.full_like(y, floor), ":", label=f"{label}: -inf", **style)
        else:
            ax.plot(group.band, np.where(np.isneginf(y), floor, y), label=label, **style)
    ax.axhline(0.0, color="k", linestyle="--", linewidth=1.0, label="0 dB: signal = noise")
    ticks = [t for t in ax.get_yticks() if t > floor + 5] + [floor]
    ax.set_yticks(ticks)
    ax.set_yticklabels([_floor_label(floor) if t == floor else f"{t:g}" for t in ticks])
    ax.set_ylim(floor - 5, None)
    ax.set_xlabel("frequency band (0 = lowest)")
    ax.set_ylabel("SNR of z_t (dB)")
    ax.set_title("SNR by band at the first sampling timestep (t of inference steps)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_band_correlation(corr: pd.DataFrame) -> Any:
    """Per-band correlation of each FreeInit pass's initial latent with the clean latents; one
    panel per target (own / previous / final), the independent-noise reference (against the
    final latent) dashed grey in every panel and the chance level shaded.

    Band 0 is marked: on a small grid it holds DC alone (one bin per channel and video), so its
    correlations are as noisy as the wide chance band there says. A caption explains pass 0's
    high-band correlation with its own output: with a deterministic sampler (DDIM, eta = 0) the
    output is a function of the initial noise, and in bands where the model adds little structure
    it keeps a scaled copy of that noise (measured on the testbed: band 7, 0.85 with eta = 0,
    0.22 with eta = 1, chance ±0.13).

    Returns:
        A matplotlib Figure.
    """
    plt = _pyplot()
    targets = [t for t in ("own", "previous", "final") if t in set(corr.target)]
    fig, axes = plt.subplots(
        1, len(targets), figsize=(4.4 * len(targets), 3.8), squeeze=False, sharey=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    reference = corr[(corr["pass"] < 0) & (corr.bins > 0)].sort_values("band")
    bins0 = int(corr[corr.band == 0].bins.iloc[0]) if (corr.band == 0).any() else 0
    for ax, target in zip(axes[0], targets, strict=True):
        part = corr[(corr.target == target) & (corr.bins > 0) & (corr["pass"] >= 0)]
        if bins0:
            ax.axvspan(-0.4, 0.4, color="#f3d9a4", alpha=0.5, lw=0)
        for k, group in part.groupby("pass", sort=True):
            group = group.sort_values("band")
            colour = colours[int(k) % len(colours)]  # one colour per pass in every panel
            ax.plot(group.band, group.correlation, marker="o", color=colour, label=f"pass {k}")
        if not reference.empty:
            ax.plot(
                reference.band,
                reference.correlation,
                "--",
                color="grey",
                label="independent noise vs final latent",
            )
        ax.axhline(0.0, color="k", linewidth=0.8)
        if "chance" in part:
            band = part.drop_duplicates("band").sort_values("band")
            ax.fill_between(
                band.band,
                -band.chance,
                band.chance,
                color="grey",
                alpha=0.2,
                label="chance: ±1/√(bins·copies)",
            )
        ax.set_title(f"corr(z_T of the pass, {target} clean latent)", fontsize=10)
        ax.set_xlabel("frequency band (0 = lowest)")
    axes[0][0].set_ylabel("correlation")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    if bins0:
        from matplotlib.patches import Patch

        handles.append(Patch(color="#f3d9a4", alpha=0.5))
        labels.append(
            "band 0: DC alone (1 bin), noisy" if bins0 == 1 else f"band 0: {bins0} bins around DC"
        )
    axes[0][-1].legend(handles, labels, fontsize="x-small")
    fig.tight_layout()
    _caption(
        fig,
        "Pass 0 starts from plain Gaussian noise, later passes from FreeInit's refined z_T (low "
        "bands of the previous output, fresh noise above). Left: pass 0's high bands correlate "
        "with its own output because the sampler is deterministic (DDIM, eta = 0): where the "
        "model adds little structure, the video keeps a scaled copy of its initial noise "
        "(stochastic sampling, eta = 1, brings it to chance). Middle: what the refinement keeps "
        "of the previous pass (low bands). Band 0 (shaded) holds DC only: read it against its "
        "wide chance band.",
    )
    return fig


# --------------------------------------------------------------------------- results


@dataclass
class SNRResults:
    """A ``task=snr`` output directory, read back (see :data:`RESULT_FILES`)."""

    path: Path
    snr: pd.DataFrame
    first_step: pd.DataFrame
    bands: pd.DataFrame
    videos: pd.DataFrame
    correlation: pd.DataFrame | None
    summary: dict[str, Any]
    levels: pd.DataFrame | None = None  # the schedule's levels (None: a run from before them)


def load_results(path: str | os.PathLike) -> SNRResults:
    """Read the parquet tables and ``job.json`` of a ``task=snr`` run directory.

    Raises:
        FileNotFoundError: ``path`` has no ``snr.parquet`` (not a finished snr run).
    """
    root = Path(path)
    if not (root / RESULT_FILES["snr"]).exists():
        raise FileNotFoundError(f"{root} has no {RESULT_FILES['snr']}: not a finished task=snr run")
    corr_path = root / RESULT_FILES["correlation"]
    levels_path = root / RESULT_FILES["levels"]
    return SNRResults(
        path=root,
        snr=pd.read_parquet(root / RESULT_FILES["snr"]),
        first_step=pd.read_parquet(root / RESULT_FILES["first_step"]),
        bands=pd.read_parquet(root / RESULT_FILES["bands"]),
        videos=pd.read_parquet(root / RESULT_FILES["videos"]),
        correlation=pd.read_parquet(corr_path) if corr_path.exists() else None,
        summary=json.loads((root / RESULT_FILES["summary"]).read_text()),
        levels=pd.read_parquet(levels_path) if levels_path.exists() else None,
    )
