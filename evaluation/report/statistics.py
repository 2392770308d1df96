"""Paired bootstrap statistics: the CI of a mean of per-video differences, and when to trust it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Below this many paired videos a bootstrap CI is too narrow to trust: no significance marks.
MIN_PAIRS = 10


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
