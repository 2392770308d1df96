"""Temporal consistency of video frames in an encoder's feature space.

All three metrics encode every frame (:func:`evaluation.encoders.encode_videos`), L2-normalise the
features ``f_0 .. f_{T-1}`` and compare frames by cosine similarity:

* :func:`dino_consistency`, FreeInit's metric (arXiv 2312.07537, Sec. 4.1): DINO ViT-S/16 CLS
  features; per video ``100 * mean_{i>=1} cos(f_0, f_i)``, the mean similarity of the first frame
  to each of the ``T - 1`` following frames; overall the mean over videos. Frames are preprocessed
  with the ``"freeinit"`` rule (shorter side to 224, centre crop 224, bicubic, ImageNet mean/std;
  :mod:`evaluation.preprocessing`), which the paper does not spell out: pass ``preprocess=`` to
  change it.
* :func:`subject_consistency`, VBench's ``subject_consistency``: DINO ViT-B/16, ``"vbench_dino"``
  preprocessing (shorter side to 224, bilinear, no crop). For each frame ``i >= 1``
  ``s_i = (max(cos(f_{i-1}, f_i), 0) + max(cos(f_0, f_i), 0)) / 2``; per video the mean of
  ``s_i``; overall VBench pools all frame pairs of all videos, ``sum s_i / number of pairs``, which
  weights longer videos more than the mean of per-video means (both are reported).
* :func:`background_consistency`, VBench's ``background_consistency``: the same formula on CLIP
  ViT-B/32 image features with ``"vbench_clip"`` preprocessing (shorter side to 224, bicubic,
  centre crop 224, CLIP mean/std).

With ``encoder="pixel"`` the same formulas run on normalised, downsampled pixels (no weights);
the result is named ``<metric>[pixel]``. Identical frames give 100 (FreeInit) or 1.0 (VBench).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from evaluation.encoders import DEFAULT_BATCH_SIZE, EncoderLike, FrameEncoder, encode_videos
from evaluation.inputs import check_videos
from evaluation.metrics.base import EncoderVideoMetric, PreprocessLike, resolve_encoder
from evaluation.metrics.motion import mean_abs_frame_difference
from evaluation.preprocessing import FREEINIT_DINO, VBENCH_CLIP, VBENCH_DINO, Preprocess

__all__ = [
    "BackgroundConsistency",
    "DINOConsistency",
    "SubjectConsistency",
    "background_consistency",
    "dino_consistency",
    "first_frame_similarity",
    "frame_weighted_mean",
    "subject_consistency",
    "vbench_similarity",
]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=-1).clamp(-1.0, 1.0)


def first_frame_similarity(features: torch.Tensor) -> torch.Tensor:
    """FreeInit's pairing: cosine of the first frame with each following frame.

    Args:
        features: ``(B, T, D)`` unit-norm frame features.

    Returns:
        ``(B, T - 1)``: ``cos(f_0, f_i)`` for ``i = 1 .. T-1``.
    """
    return _cosine(features[:, :1], features[:, 1:])


def vbench_similarity(features: torch.Tensor) -> torch.Tensor:
    """VBench's pairing: previous-frame and first-frame cosines, each clipped at 0, averaged.

    Args:
        features: ``(B, T, D)`` unit-norm frame features.

    Returns:
        ``(B, T - 1)``: ``(max(cos(f_{i-1}, f_i), 0) + max(cos(f_0, f_i), 0)) / 2``, ``i >= 1``.
    """
    previous = _cosine(features[:, :-1], features[:, 1:]).clamp_min(0.0)
    first = first_frame_similarity(features).clamp_min(0.0)
    return (previous + first) / 2


def frame_weighted_mean(scores: torch.Tensor, num_pairs: torch.Tensor) -> torch.Tensor:
    """VBench's overall score: per-video means pooled over all frame pairs.

    Args:
        scores: ``(N,)`` per-video mean pair scores.
        num_pairs: ``(N,)`` frame pairs per video (``T - 1``).

    Returns:
        Scalar ``sum_v scores_v * num_pairs_v / sum_v num_pairs_v``.
    """
    weights = num_pairs.to(torch.float64)
    return ((scores.to(torch.float64) * weights).sum() / weights.sum()).to(scores.dtype)


@dataclass(frozen=True)
class _Definition:
    metric: str
    default_encoder: str
    default_preprocess: Preprocess
    pair_scores: Callable[[torch.Tensor], torch.Tensor]
    scale: float
    pairing: str
    frame_weighted: bool


_DINO = _Definition(
    "dino_consistency",
    "dino_vits16",
    FREEINIT_DINO,
    first_frame_similarity,
    100.0,
    "first frame vs each following frame: 100 * mean_i cos(f_0, f_i)",
    frame_weighted=False,
)
_SUBJECT = _Definition(
    "subject_consistency",
    "dino_vitb16",
    VBENCH_DINO,
    vbench_similarity,
    1.0,
    "VBench: mean_i (max(cos(f_{i-1}, f_i), 0) + max(cos(f_0, f_i), 0)) / 2",
    frame_weighted=True,
)
_BACKGROUND = _Definition(
    "background_consistency",
    "clip_vitb32",
    VBENCH_CLIP,
    vbench_similarity,
    1.0,
    _SUBJECT.pairing,
    frame_weighted=True,
)


def _per_video(
    definition: _Definition,
    videos: torch.Tensor,
    encoder: FrameEncoder,
    preprocess: Preprocess,
    batch_size: int,
    device: str | torch.device | None,
) -> torch.Tensor:
    features = encode_videos(videos, encoder, preprocess, batch_size=batch_size, device=device)
    scores = definition.pair_scores(features).mean(dim=1) * definition.scale
    return scores.to(videos.device).clone()  # a normal tensor, not an inference tensor


def _consistency(
    definition: _Definition,
    videos: torch.Tensor,
    encoder: EncoderLike,
    weights: str | os.PathLike | None,
    preprocess: PreprocessLike,
    batch_size: int,
    device: str | torch.device | None,
) -> torch.Tensor:
    videos = check_videos(videos)
    frame_encoder, rule = resolve_encoder(
        encoder,
        default=definition.default_encoder,
        default_preprocess=definition.default_preprocess,
        weights=weights,
        preprocess=preprocess,
        device=device,
        fallback_device=videos.device,
    )
    return _per_video(definition, videos, frame_encoder, rule, batch_size, device)


def dino_consistency(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """FreeInit's DINO temporal consistency of each video (x100, higher is more consistent).

    ``100 * mean_{i=1..T-1} cos(f_0, f_i)`` with ``f_i`` the L2-normalised DINO ViT-S/16 CLS
    feature of frame ``i``. Identical frames give 100.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``C`` in {1, 3}, ``T >= 2``.
        encoder: ``None`` (``"dino_vits16"``), a registered name
            (:data:`evaluation.encoders.ENCODERS`), ``"pixel"``, or an ``nn.Module`` mapping
            preprocessed frames ``(N, 3, h, w)`` to features ``(N, D)``.
        weights: for a registered encoder: ``None`` (Hugging Face cache), a local checkpoint file
            or directory, or ``"random"`` (smoke tests).
        preprocess: a :class:`~evaluation.preprocessing.Preprocess`, a preset name or a dict of its
            fields (default ``"freeinit"`` with the encoder's own mean/std).
        batch_size: frames per encoder call, across videos.
        device: where the encoder runs (default: an injected encoder's device, else the videos').

    Returns:
        ``(B,)`` float32 per-video scores on the videos' device.

    Raises:
        ValueError: bad videos or arguments.
        WeightsNotFoundError: the encoder's weights are not on this machine.
    """
    return _consistency(_DINO, videos, encoder, weights, preprocess, batch_size, device)


def subject_consistency(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench subject consistency of each video (in [0, 1]).

    ``mean_{i=1..T-1} (max(cos(f_{i-1}, f_i), 0) + max(cos(f_0, f_i), 0)) / 2`` on L2-normalised
    DINO ViT-B/16 features. Identical frames give 1.0. VBench's overall score pools frame pairs:
    :func:`frame_weighted_mean`, or :class:`SubjectConsistency`.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``C`` in {1, 3}, ``T >= 2``.
        encoder: ``None`` (``"dino_vitb16"``), a registered name
            (:data:`evaluation.encoders.ENCODERS`), ``"pixel"``, or an ``nn.Module`` mapping
            preprocessed frames ``(N, 3, h, w)`` to features ``(N, D)``.
        weights: for a registered encoder: ``None`` (Hugging Face cache), a local checkpoint file
            or directory, or ``"random"`` (smoke tests).
        preprocess: a :class:`~evaluation.preprocessing.Preprocess`, a preset name or a dict of its
            fields (default ``"vbench_dino"`` with the encoder's own mean/std).
        batch_size: frames per encoder call, across videos.
        device: where the encoder runs (default: an injected encoder's device, else the videos').

    Returns:
        ``(B,)`` float32 per-video scores on the videos' device.

    Raises:
        ValueError: bad videos or arguments.
        WeightsNotFoundError: the encoder's weights are not on this machine.
    """
    return _consistency(_SUBJECT, videos, encoder, weights, preprocess, batch_size, device)


def background_consistency(
    videos: torch.Tensor,
    encoder: EncoderLike = None,
    *,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench background consistency of each video (in [0, 1]).

    The :func:`subject_consistency` formula on L2-normalised CLIP ViT-B/32 image features.
    Identical frames give 1.0.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``C`` in {1, 3}, ``T >= 2``.
        encoder: ``None`` (``"clip_vitb32"``), a registered name
            (:data:`evaluation.encoders.ENCODERS`), ``"pixel"``, or an ``nn.Module`` mapping
            preprocessed frames ``(N, 3, h, w)`` to features ``(N, D)``.
        weights: for a registered encoder: ``None`` (Hugging Face cache), a local checkpoint file
            or directory, or ``"random"`` (smoke tests).
        preprocess: a :class:`~evaluation.preprocessing.Preprocess`, a preset name or a dict of its
            fields (default ``"vbench_clip"`` with the encoder's own mean/std).
        batch_size: frames per encoder call, across videos.
        device: where the encoder runs (default: an injected encoder's device, else the videos').

    Returns:
        ``(B,)`` float32 per-video scores on the videos' device.

    Raises:
        ValueError: bad videos or arguments.
        WeightsNotFoundError: the encoder's weights are not on this machine.
    """
    return _consistency(_BACKGROUND, videos, encoder, weights, preprocess, batch_size, device)


class _ConsistencyMetric(EncoderVideoMetric):
    """The torchmetrics class of a consistency metric (see the module docstring)."""

    higher_is_better = True
    _definition: _Definition

    def __init__(
        self,
        encoder: EncoderLike = None,
        *,
        weights: str | os.PathLike | None = None,
        preprocess: PreprocessLike = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_encoder(
            encoder, weights=weights, preprocess=preprocess, batch_size=batch_size, device=device
        )
        self._add_per_video_state("scores", "num_pairs", "frame_diff")

    @property
    def metadata(self) -> dict[str, Any]:
        """Encoder, weights, preprocessing, pairing, scale and pooling of the result."""
        definition = self._definition
        return {
            **super().metadata,
            "pairing": definition.pairing,
            "scale": definition.scale,
            "pooling": "all frame pairs (VBench)" if definition.frame_weighted else "video mean",
            "motion": f"{self.name}/motion: mean |x[t+1] - x[t]|, [0, 1] units",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1)."""
        videos = check_videos(videos)
        encoder, device = self._encoder_and_device()
        scores = _per_video(
            self._definition, videos, encoder, self._preprocess, self._batch_size, device
        )
        b, t = videos.shape[:2]
        self.scores.append(scores.to(self.device))
        self.num_pairs.append(torch.full((b,), t - 1, dtype=torch.long, device=self.device))
        self.frame_diff.append(mean_abs_frame_difference(videos).to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """The overall score under :attr:`name`, and the mean motion under ``<name>/motion``.

        VBench metrics also report ``<name>/video_mean``, the mean of per-video scores.
        """
        scores = self._values("scores")
        out = {}
        if self._definition.frame_weighted:
            out[self.name] = frame_weighted_mean(scores, self._values("num_pairs"))
            out[f"{self.name}/video_mean"] = scores.mean()
        else:
            out[self.name] = scores.mean()
        out[f"{self.name}/motion"] = self._values("frame_diff").mean()
        return out

    def per_video(self) -> dict[str, torch.Tensor]:
        """Per-video scores and motion, ``(N,)`` each, in update order."""
        return {
            self.name: self._values("scores"),
            f"{self.name}/motion": self._values("frame_diff"),
        }


class DINOConsistency(_ConsistencyMetric):
    """FreeInit's DINO temporal consistency (x100), see :func:`dino_consistency`.

    ``compute()`` returns ``{"dino_consistency[<encoder>]": mean over videos,
    "dino_consistency[<encoder>]/motion": mean frame difference}``.

    Args:
        encoder: as :func:`dino_consistency` (default ``"dino_vits16"``).
        weights: as :func:`dino_consistency`; checked at construction.
        preprocess: as :func:`dino_consistency` (default ``"freeinit"``).
        batch_size: frames per encoder call.
        device: where the encoder runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    plot_lower_bound = -100.0
    plot_upper_bound = 100.0
    metric_name = "dino_consistency"
    _definition = _DINO
    default_encoder = _DINO.default_encoder
    default_preprocess = _DINO.default_preprocess


class SubjectConsistency(_ConsistencyMetric):
    """VBench subject consistency, see :func:`subject_consistency`.

    ``compute()`` returns ``{"subject_consistency[<encoder>]": pooled over all frame pairs (VBench's
    number), ".../video_mean": mean of per-video scores, ".../motion": mean frame difference}``.

    Args:
        encoder: as :func:`subject_consistency` (default ``"dino_vitb16"``).
        weights: as :func:`subject_consistency`; checked at construction.
        preprocess: as :func:`subject_consistency` (default ``"vbench_dino"``).
        batch_size: frames per encoder call.
        device: where the encoder runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "subject_consistency"
    _definition = _SUBJECT
    default_encoder = _SUBJECT.default_encoder
    default_preprocess = _SUBJECT.default_preprocess


class BackgroundConsistency(_ConsistencyMetric):
    """VBench background consistency, see :func:`background_consistency`.

    ``compute()`` returns the same keys as :class:`SubjectConsistency`, named
    ``background_consistency[<encoder>]``.

    Args:
        encoder: as :func:`background_consistency` (default ``"clip_vitb32"``).
        weights: as :func:`background_consistency`; checked at construction.
        preprocess: as :func:`background_consistency` (default ``"vbench_clip"``).
        batch_size: frames per encoder call.
        device: where the encoder runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "background_consistency"
    _definition = _BACKGROUND
    default_encoder = _BACKGROUND.default_encoder
    default_preprocess = _BACKGROUND.default_preprocess
