"""VBench's dynamic degree: whether a video moves at all, from RAFT optical flow.

Per video, as VBench's ``dynamic_degree.py`` (``DynamicDegree.get_frames / infer / get_score /
set_params / check_move``):

1. Frames are sub-sampled to about 8 fps: every ``interval``-th frame from frame 0, with
   ``interval = max(1, round(fps / 8))`` and Python's round (24 -> 3, 25 -> 3, 30 -> 4, 20 -> 2,
   12 -> 2, <= 11 -> 1). ``fps=None`` keeps every frame (VBench's image folders). ``N`` frames
   remain, at their native resolution.
2. Each consecutive pair is edge-padded to multiples of 8, centred as RAFT's ``InputPadder``
   (``sintel`` mode: left ``pw // 2``, right ``pw - pw // 2``, likewise top and bottom), scaled to
   [-1, 1] and run through RAFT-Large with 20 refinement updates. The pair's score is the mean of
   the largest 5 % (``int(h * w * 0.05)`` values over the padded ``h x w``) of the flow
   magnitudes ``sqrt(u^2 + v^2)``.
3. A pair moves when its score is above ``6 * min(H, W) / 256`` pixels (the unpadded frame size).
4. The video is dynamic once ``round(N / 4)`` pairs move (``round(4 * N / 16)``, Python's round:
   16 -> 4, 10 -> 2, 6 -> 2, 2 -> 0). VBench checks the count after each pair, so with a required
   count of 0 (``N = 2``) the first pair makes the video dynamic whether it moves or not; a video
   left with one frame has no pair and is static. Both edge cases are kept.

Per video a boolean; the set value is the fraction of dynamic videos (VBench's ``np.mean``). The
threshold has no fps factor: VBench added ``max(1, 8 / fps)`` in July 2024 and dropped it again.

The default flow model ``"raft_large_v1"`` is torchvision's RAFT-Large with
``Raft_Large_Weights.C_T_V1``, the original ``raft-things.pth`` that VBench loads, ported by
torchvision (:mod:`evaluation.optical_flow`; its ``C_T_V2`` weights, ``"raft_large"``, were
retrained and give other flows). Flow here is torchvision's RAFT code, not princeton-vl's.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.inputs import check_videos, frames_to_float
from evaluation.metrics.base import VideoMetric
from evaluation.metrics.motion import _flow_model
from evaluation.optical_flow import (
    MIN_FLOW_SIDE,
    RAFT_MODELS,
    flow_pairs,
    load_raft,
    resolve_raft_weights,
)

__all__ = [
    "DynamicDegree",
    "dynamic_degree",
    "dynamic_pair_scores",
    "is_dynamic",
    "moving_threshold",
    "pad_to_multiple_of_8",
    "required_moving_pairs",
    "subsample_interval",
    "top_flow_magnitude",
]

DEFAULT_FLOW_MODEL = "raft_large_v1"
TARGET_FPS = 8
TOP_FRACTION = 0.05
NUM_FLOW_UPDATES = 20  # VBench: iters=20


def subsample_interval(fps: float | None) -> int:
    """VBench's frame step for about 8 fps: ``max(1, round(fps / 8))``; ``fps=None``: 1.

    Python's ``round`` rounds halves to even (20 fps -> 2.5 -> 2), as VBench's does.
    """
    if fps is None:
        return 1
    if isinstance(fps, bool) or not isinstance(fps, (int, float)):
        raise ValueError(f"fps must be a positive number or None, got {fps!r}")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number or None, got {fps!r}")
    return max(1, round(fps / TARGET_FPS))


def moving_threshold(height: int, width: int) -> float:
    """The flow score (pixels) above which a pair moves: ``6 * min(H, W) / 256``, unpadded size."""
    return 6.0 * (min(height, width) / 256.0)  # VBench's order of operations


def required_moving_pairs(num_frames: int) -> int:
    """Moving pairs that make a video of ``num_frames`` sub-sampled frames dynamic:
    ``round(4 * N / 16)`` with Python's round (``N = 2`` gives 0)."""
    return round(4 * (num_frames / 16.0))


def is_dynamic(pair_scores: Sequence[float], threshold: float, count_num: int) -> bool:
    """VBench's ``check_move``: count pairs scoring above ``threshold`` and stop at ``count_num``.

    The count is compared after each pair, so ``count_num = 0`` returns True at the first pair even
    if it does not move, and an empty ``pair_scores`` returns False.
    """
    count = 0
    for score in pair_scores:
        if score > threshold:
            count += 1
        if count >= count_num:
            return True
    return False


def top_flow_magnitude(flow: torch.Tensor, fraction: float = TOP_FRACTION) -> torch.Tensor:
    """Mean of the largest ``int(h * w * fraction)`` flow magnitudes of each pair.

    Args:
        flow: ``(N, 2, h, w)`` flow in pixels (``u``, ``v``), at the padded resolution.
        fraction: share of the pixels kept (VBench: 0.05).

    Returns:
        ``(N,)`` float64; NaN where ``int(h * w * fraction)`` is 0 (VBench's mean of nothing).
    """
    h, w = flow.shape[-2:]
    k = int(h * w * fraction)
    flow = flow.float()
    radius = torch.sqrt(flow[:, 0] ** 2 + flow[:, 1] ** 2).flatten(1)  # float32, as VBench's numpy
    if k == 0:
        return torch.full((len(flow),), float("nan"), dtype=torch.float64, device=flow.device)
    return radius.topk(k, dim=1).values.double().mean(dim=1)


def pad_to_multiple_of_8(frames: torch.Tensor) -> torch.Tensor:
    """Edge-pad ``(N, C, H, W)`` frames to sides that are multiples of 8, centred as RAFT's
    ``InputPadder`` in ``sintel`` mode (the odd pixel goes right / bottom)."""
    height, width = frames.shape[-2:]
    pad_h, pad_w = -height % 8, -width % 8
    if not (pad_h or pad_w):
        return frames
    pad = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    return F.pad(frames, pad, mode="replicate")


def _prepare(frames: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 or [0, 1] frames -> padded ``(N, 3, h, w)`` in [-1, 1]: VBench's
    ``2 * (x / 255) - 1`` on 0-255 frames (padding commutes with the scaling)."""
    return pad_to_multiple_of_8(frames_to_float(frames)) * 2 - 1


def _pair_scores(
    videos: torch.Tensor,
    interval: int,
    model: nn.Module,
    *,
    batch_size: int,
    device: torch.device,
    num_flow_updates: int,
) -> torch.Tensor:
    """``(B, N - 1)`` float64 top-5 % flow scores of consecutive sub-sampled frames, on the CPU."""
    from torchvision.models.optical_flow import RAFT

    frames = videos[:, ::interval]  # a view: frames are converted chunk by chunk on the device
    b, n = frames.shape[:2]
    pairs = n - 1
    if pairs == 0:
        return torch.zeros(b, 0, dtype=torch.float64)
    padded = [side + (-side % 8) for side in frames.shape[-2:]]
    if isinstance(model, RAFT) and min(padded) < MIN_FLOW_SIDE:
        raise ValueError(
            f"RAFT needs frames of at least {MIN_FLOW_SIDE} pixels a side; dynamic degree runs at "
            f"the native resolution and got {tuple(frames.shape[-2:])}"
        )
    index = torch.arange(b * pairs)
    scores = []
    with torch.inference_mode():
        for start in range(0, b * pairs, batch_size):
            chunk = index[start : start + batch_size]
            vid, frame = chunk // pairs, chunk % pairs
            first = _prepare(frames[vid, frame].to(device))
            second = _prepare(frames[vid, frame + 1].to(device))
            flow = flow_pairs(model, first, second, num_flow_updates)
            scores.append(top_flow_magnitude(flow).cpu())
    return torch.cat(scores).reshape(b, pairs).clone()


def _decide(scores: torch.Tensor, num_frames: int, height: int, width: int) -> torch.Tensor:
    """``(B,)`` bool from ``(B, N - 1)`` pair scores (:func:`is_dynamic` per video)."""
    threshold = moving_threshold(height, width)
    count_num = required_moving_pairs(num_frames)
    return torch.tensor(
        [is_dynamic(row.tolist(), threshold, count_num) for row in scores], dtype=torch.bool
    )


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _warn_single_frame(t: int, interval: int, fps: float | None) -> None:
    warnings.warn(
        f"dynamic degree: {t} frames at fps={fps} keep 1 frame after sub-sampling every "
        f"{interval}th, so no frame pair: the videos count as static (as in VBench)",
        stacklevel=3,
    )


def dynamic_pair_scores(
    videos: torch.Tensor,
    fps: float | None,
    flow_model: str | nn.Module = DEFAULT_FLOW_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    batch_size: int = 4,
    num_flow_updates: int = NUM_FLOW_UPDATES,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """The per-pair flow scores that :func:`dynamic_degree` thresholds.

    Arguments as :func:`dynamic_degree`.

    Returns:
        ``(B, N - 1)`` float64 on the CPU: for each pair of consecutive sub-sampled frames, the mean
        of its largest 5 % flow magnitudes in pixels (``N`` frames after sub-sampling).
    """
    videos = check_videos(videos)
    interval = subsample_interval(fps)
    _check_batch_size(batch_size)
    if isinstance(flow_model, str):  # missing weights: the error without Motion's way out
        resolve_raft_weights(flow_model, weights, alternative=None)
    model, run_device = _flow_model(flow_model, weights, device, videos.device)
    return _pair_scores(
        videos,
        interval,
        model,
        batch_size=batch_size,
        device=run_device,
        num_flow_updates=num_flow_updates,
    )


def dynamic_degree(
    videos: torch.Tensor,
    fps: float | None,
    flow_model: str | nn.Module = DEFAULT_FLOW_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    batch_size: int = 4,
    num_flow_updates: int = NUM_FLOW_UPDATES,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench's dynamic degree of each video: whether it moves (see the module docstring).

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``, at the resolution
            they were generated at (no resize: the threshold scales with the frame size).
        fps: the videos' frame rate; every ``max(1, round(fps / 8))``-th frame is kept. ``None``:
            every frame (VBench's image folders).
        flow_model: ``"raft_large_v1"`` (default, VBench's weights), another name of
            :data:`evaluation.optical_flow.RAFT_MODELS`, or a module ``(frames_a, frames_b) ->
            (N, 2, h, w)`` flow (or a list ending with it) taking padded frames in [-1, 1].
        weights: for a named RAFT: ``None`` (torch hub's checkpoint cache), a local checkpoint,
            or ``"random"`` (smoke tests).
        batch_size: frame pairs per RAFT call (across videos).
        num_flow_updates: RAFT refinement iterations (VBench: 20).
        device: where RAFT runs (default: an injected model's device, else the videos').

    Returns:
        ``(B,)`` bool on the videos' device: True for a dynamic video.

    Raises:
        ValueError: bad videos or arguments, or frames under 128 pixels a side for RAFT.
        WeightsNotFoundError: a named RAFT's weights are not on this machine.
    """
    videos = check_videos(videos)
    interval = subsample_interval(fps)
    num_frames = len(range(0, videos.shape[1], interval))
    if num_frames == 1:
        _warn_single_frame(videos.shape[1], interval, fps)
    scores = dynamic_pair_scores(
        videos,
        fps,
        flow_model,
        weights=weights,
        batch_size=batch_size,
        num_flow_updates=num_flow_updates,
        device=device,
    )
    return _decide(scores, num_frames, *videos.shape[-2:]).to(videos.device)


_UNSET: Any = object()


class DynamicDegree(VideoMetric):
    """VBench's dynamic degree: the fraction of videos that move; see :func:`dynamic_degree`.

    ``compute()`` returns ``{"dynamic_degree[<flow model>]": fraction of dynamic videos}``, e.g.
    ``dynamic_degree[raft_large_v1]`` (``...@random`` with random weights, ``custom:<class>``
    for an injected model). :meth:`per_video` gives 1.0 (dynamic) or 0.0 per video.

    Args:
        fps: the videos' frame rate (``None``: no sub-sampling); :meth:`update` may override it.
        flow_model: as :func:`dynamic_degree` (default ``"raft_large_v1"``).
        flow_weights: a named RAFT's checkpoint (``None``: torch hub's cache; ``"random"``:
            tests); resolved at construction, so missing weights fail here.
        batch_size: frame pairs per RAFT call.
        num_flow_updates: RAFT refinement iterations (VBench: 20).
        device: where RAFT runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = True  # VBench adds it to the quality score (weight 0.5): more is better
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "dynamic_degree"

    def __init__(
        self,
        fps: float | None,
        flow_model: str | nn.Module = DEFAULT_FLOW_MODEL,
        *,
        flow_weights: str | os.PathLike | None = None,
        batch_size: int = 4,
        num_flow_updates: int = NUM_FLOW_UPDATES,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        subsample_interval(fps)  # checked now
        _check_batch_size(batch_size)
        self._fps = fps
        self._weights = flow_weights
        self._batch_size = batch_size
        self._num_flow_updates = num_flow_updates
        self._device_arg = device
        self._flow_module: nn.Module | None = None
        if isinstance(flow_model, nn.Module):
            if flow_weights is not None:
                raise ValueError("flow_weights is only used with a named RAFT model, not a module")
            self._flow_module = flow_model
            self._flow_name = f"custom:{type(flow_model).__name__}"
            self._source = "injected"
        elif isinstance(flow_model, str):
            self._source = str(resolve_raft_weights(flow_model, flow_weights, alternative=None))
            suffix = "@random" if self._source == "random" else ""
            self._flow_name = f"{flow_model}{suffix}"
            # loaded now (and cached), so that a checkpoint with wrong keys fails here too
            load_raft(flow_model, flow_weights, device if device is not None else "cpu")
        else:
            raise ValueError(
                f"flow_model must be one of {RAFT_MODELS} or an nn.Module, "
                f"got {type(flow_model).__name__}"
            )
        self._flow_model_arg = flow_model
        self._add_per_video_state("dynamic")

    @property
    def name(self) -> str:
        """``dynamic_degree[<flow model>]``."""
        return f"{self.metric_name}[{self._flow_name}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """Flow model, weights and the decision rule."""
        return {
            **super().metadata,
            "flow_model": self._flow_name,
            "flow_weights": self._source,
            "fps": self._fps,
            "frames": "every max(1, round(fps / 8))-th frame from 0 (fps None: all), native size",
            "num_flow_updates": self._num_flow_updates,
            "pair_score": "mean of the top 5% flow magnitudes, padded to multiples of 8",
            "moving": "pair score > 6 * min(H, W) / 256",
            "dynamic": "at least round(N / 4) moving pairs, N sub-sampled frames (VBench)",
            "pooling": "fraction of dynamic videos",
        }

    def update(self, videos: torch.Tensor, fps: float | None = _UNSET) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1).

        ``fps`` overrides the constructor's for this batch.
        """
        fps = self._fps if fps is _UNSET else fps
        videos = check_videos(videos)
        interval = subsample_interval(fps)
        num_frames = len(range(0, videos.shape[1], interval))
        if num_frames == 1:
            _warn_single_frame(videos.shape[1], interval, fps)
        if self._flow_module is not None:
            model, run_device = _flow_model(self._flow_module, None, self._device_arg, self.device)
        else:
            run_device = torch.device(
                self._device_arg if self._device_arg is not None else self.device
            )
            model = load_raft(self._flow_model_arg, self._weights, run_device)
        scores = _pair_scores(
            videos,
            interval,
            model,
            batch_size=self._batch_size,
            device=run_device,
            num_flow_updates=self._num_flow_updates,
        )
        dynamic = _decide(scores, num_frames, *videos.shape[-2:])
        self.dynamic.append(dynamic.float().to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"dynamic_degree[<flow model>]": fraction of dynamic videos}``."""
        return {self.name: self._values("dynamic").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"dynamic_degree[<flow model>]": (N,)}``, 1.0 for a dynamic video, else 0.0."""
        return {self.name: self._values("dynamic")}
