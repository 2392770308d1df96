"""Frame pairings for long videos: consistency inside each attention window and across windows.

FreeNoise (and FreeLong) sample a long video with a motion module that sees ``window`` frames at
a time. A whole-video score (``dino_consistency``: the first frame against every frame) mixes two
questions; these pairings ask them apart, on the same unit-norm frame features:

* inside each window: the window's first frame against each of its frames, as FreeInit's DINO
  metric does for a whole 16-frame video (:func:`window_similarity`);
* across windows: the first frames of consecutive windows against each other, so a video that
  is consistent inside every window but drifts (or cuts) from one window to the next scores low
  (:func:`cross_window_similarity`).

Windows are the non-overlapping blocks ``[0, w), [w, 2w), ...``; a last block shorter than two
frames adds no pair inside. They are a fixed grid for measuring, not FreeNoise's sliding windows
(which overlap and move with the stride), so videos sampled with any method compare on one grid.

The metrics :func:`window_consistency` and :func:`cross_window_consistency` (and their classes)
are FreeInit's DINO metric (:func:`evaluation.metrics.consistency.dino_consistency`: DINO ViT-S/16
CLS features, ``"freeinit"`` preprocessing, x100) with these pairings instead of the whole-video
one. A video of one window has no cross-window pair: its ``cross_window_consistency`` is NaN.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import torch

from evaluation.encoders import DEFAULT_BATCH_SIZE, EncoderLike
from evaluation.metrics.base import PreprocessLike
from evaluation.metrics.consistency import _DINO, _consistency, _ConsistencyMetric, _Definition

__all__ = [
    "DEFAULT_WINDOW",
    "CrossWindowConsistency",
    "WindowConsistency",
    "cross_window_consistency",
    "cross_window_similarity",
    "window_consistency",
    "window_similarity",
    "window_starts",
]

# AnimateDiff's and ModelScope's motion modules are trained on 16 frames (FreeNoise's window).
DEFAULT_WINDOW = 16


def _check_window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an integer >= 2, got {window!r}")
    return window


def window_starts(num_frames: int, window: int = DEFAULT_WINDOW) -> list[int]:
    """The first frame of each window of a ``num_frames``-frame video: ``0, w, 2w, ...``."""
    return list(range(0, num_frames, _check_window(window)))


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=-1).clamp(-1.0, 1.0)


def window_similarity(features: torch.Tensor, window: int = DEFAULT_WINDOW) -> torch.Tensor:
    """Inside each window, the cosine of its first frame with each following frame.

    Args:
        features: ``(B, T, D)`` unit-norm frame features, ``T >= 2``.
        window: frames per window (>= 2).

    Returns:
        ``(B, P)``: ``cos(f_s, f_{s+i})`` for every window start ``s`` and ``1 <= i < w`` inside
        the video, window after window (``P = T - number of windows``).
    """
    starts = window_starts(features.shape[1], window)
    pairs = [
        _cosine(features[:, s : s + 1], features[:, s + 1 : s + window])
        for s in starts
        if s + 1 < features.shape[1]
    ]
    return torch.cat(pairs, dim=1)


def cross_window_similarity(features: torch.Tensor, window: int = DEFAULT_WINDOW) -> torch.Tensor:
    """The cosine of each window's first frame with the next window's first frame.

    Args:
        features: ``(B, T, D)`` unit-norm frame features.
        window: frames per window (>= 2).

    Returns:
        ``(B, N - 1)`` for ``N`` windows; ``(B, 1)`` of NaN when the video has one window only
        (``T <= window``: nothing to compare across).
    """
    starts = window_starts(features.shape[1], window)
    if len(starts) < 2:
        return torch.full((features.shape[0], 1), float("nan"), dtype=features.dtype)
    firsts = features[:, starts]
    return _cosine(firsts[:, :-1], firsts[:, 1:])


def _definition(metric: str, window: int) -> _Definition:
    """FreeInit's DINO definition with a window pairing (encoder, preprocessing and x100 kept)."""
    window = _check_window(window)
    inside = metric == "window_consistency"
    pairing = (
        f"inside each {window}-frame window: 100 * mean cos(window's first frame, its frame i)"
        if inside
        else f"first frames of consecutive {window}-frame windows: 100 * mean cos(f_s, f_s+w)"
    )
    pairs = window_similarity if inside else cross_window_similarity
    return dataclasses.replace(
        _DINO, metric=metric, pair_scores=functools.partial(pairs, window=window), pairing=pairing
    )


def window_consistency(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    window: int = DEFAULT_WINDOW,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """FreeInit's DINO consistency inside each ``window``-frame block (x100; identical frames 100).

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``C`` in {1, 3}, ``T >= 2``.
        encoder, weights, preprocess, batch_size, device: as
            :func:`~evaluation.metrics.consistency.dino_consistency` (default ``"dino_vits16"``).
        window: frames per block (>= 2); 16, the motion modules' training length, by default.

    Returns:
        ``(B,)`` float32: per video, the mean over blocks and pairs of :func:`window_similarity`.
    """
    definition = _definition("window_consistency", window)
    return _consistency(definition, videos, encoder, weights, preprocess, batch_size, device)


def cross_window_consistency(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    window: int = DEFAULT_WINDOW,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """FreeInit's DINO consistency between the first frames of consecutive ``window``-frame
    blocks (x100): low when every block is consistent but the video drifts or cuts between them.

    Args: as :func:`window_consistency`.

    Returns:
        ``(B,)`` float32; NaN for a video of one block (``T <= window``: no pair to compare).
    """
    definition = _definition("cross_window_consistency", window)
    return _consistency(definition, videos, encoder, weights, preprocess, batch_size, device)


class _WindowMetric(_ConsistencyMetric):
    def __init__(self, encoder: EncoderLike = None, *, window: int = DEFAULT_WINDOW, **kwargs: Any):
        self._definition = _definition(self.metric_name, window)
        super().__init__(encoder, **kwargs)

    @property
    def metadata(self) -> dict[str, Any]:
        """As the consistency metrics', with the window."""
        return {**super().metadata, "window": self._definition.pair_scores.keywords["window"]}


class WindowConsistency(_WindowMetric):
    """:func:`window_consistency` as a torchmetrics class; ``compute()`` returns
    ``{"window_consistency[<encoder>]": mean over videos, ".../motion": mean frame difference}``.

    Args: ``encoder``, ``window`` as :func:`window_consistency`; the rest as
    :class:`~evaluation.metrics.consistency.DINOConsistency`.
    """

    plot_lower_bound = -100.0
    plot_upper_bound = 100.0
    metric_name = "window_consistency"
    default_encoder = _DINO.default_encoder
    default_preprocess = _DINO.default_preprocess


class CrossWindowConsistency(_WindowMetric):
    """:func:`cross_window_consistency` as a torchmetrics class (NaN while every video seen has
    one window); keys as :class:`WindowConsistency`, named ``cross_window_consistency[...]``."""

    plot_lower_bound = -100.0
    plot_upper_bound = 100.0
    metric_name = "cross_window_consistency"
    default_encoder = _DINO.default_encoder
    default_preprocess = _DINO.default_preprocess
