"""How much a video moves: mean absolute frame difference, and RAFT optical flow magnitude.

Consistency metrics reward frozen videos (identical frames score 100), so every consistency result
is reported with the motion of the same videos beside it.

* :func:`motion`: per video, the mean over consecutive frame pairs of the mean absolute
  difference of all pixels and channels, in [0, 1] units (uint8 values / 255), at the native
  resolution. Identical frames give 0. It equals ``1 - temporal_flicker``.
* :func:`flow_magnitude`: per video, the mean over consecutive pairs of the mean per-pixel length
  of RAFT's flow, in pixels of frames resized to a 256-pixel shorter side
  (:mod:`evaluation.optical_flow`). It ignores brightness changes that are not motion.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from evaluation.inputs import check_videos, frames_to_float
from evaluation.metrics.base import VideoMetric, injected_device
from evaluation.optical_flow import (
    RAFT_MODELS,
    flow_pairs,
    load_raft,
    prepare_flow_frames,
    resolve_raft_weights,
)
from freqlab.hub import WeightsNotFoundError

__all__ = ["Motion", "flow_magnitude", "mean_abs_frame_difference", "motion"]

DEFAULT_FLOW_MODEL = "raft_large"


def mean_abs_frame_difference(videos: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of consecutive frames, per video, in [0, 1] units.

    Args:
        videos: ``(B, T, 3, H, W)`` checked videos, uint8 or float in [0, 1].

    Returns:
        ``(B,)`` float32, ``mean_t mean_{c,h,w} |x[t+1] - x[t]|`` (all pairs have the same size, so
        this is also the mean of VBench's per-pair MAE).
    """
    values = []
    with torch.no_grad():
        for video in videos:  # one video at a time bounds the float copy to (T, 3, H, W)
            x = frames_to_float(video)
            values.append((x[1:] - x[:-1]).abs().mean(dtype=torch.float64))
    return torch.stack(values).float()


def motion(videos: torch.Tensor) -> torch.Tensor:
    """How much each video moves: the mean absolute difference of consecutive frames.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``.

    Returns:
        ``(B,)`` float32 in [0, 1]; 0 for a frozen video.
    """
    return mean_abs_frame_difference(check_videos(videos))


def _flow_magnitude(
    videos: torch.Tensor,
    flow_model: nn.Module,
    *,
    size: int | None,
    batch_size: int,
    device: torch.device,
    num_flow_updates: int,
) -> torch.Tensor:
    b, t = videos.shape[:2]
    pairs = t - 1
    index = torch.arange(b * pairs)
    per_pair = []
    with torch.inference_mode():
        for start in range(0, b * pairs, batch_size):
            chunk = index[start : start + batch_size]
            vid, frame = chunk // pairs, chunk % pairs
            first = prepare_flow_frames(videos[vid, frame].to(device), size)
            second = prepare_flow_frames(videos[vid, frame + 1].to(device), size)
            flow = flow_pairs(flow_model, first, second, num_flow_updates)
            per_pair.append(flow.float().norm(dim=1).mean(dim=(1, 2)))
    return torch.cat(per_pair).reshape(b, pairs).mean(dim=1).clone()


def flow_magnitude(
    videos: torch.Tensor,
    flow_model: str | nn.Module = DEFAULT_FLOW_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    size: int | None = 256,
    batch_size: int = 8,
    num_flow_updates: int = 12,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Mean optical-flow magnitude of consecutive frames, per video.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``.
        flow_model: ``"raft_large"``, ``"raft_small"`` (torchvision RAFT with local weights) or a
            module ``(frames_a, frames_b) -> (N, 2, h, w)`` flow (or a list ending with it), taking
            frames in [-1, 1].
        weights: local RAFT checkpoint, ``"random"`` (tests), or ``None`` (torch hub cache).
        size: shorter side the frames are resized to (``None``: native, padded to multiples of 8).
        batch_size: frame pairs per RAFT call.
        num_flow_updates: RAFT refinement iterations (VBench uses 20, torchvision's default 12).
        device: where to run (default: the model's device, else the videos').

    Returns:
        ``(B,)`` float32, pixels per frame at the flow resolution, on the videos' device.

    Raises:
        WeightsNotFoundError: a named RAFT's weights are not on this machine.
    """
    videos = check_videos(videos)
    model, run_device = _flow_model(flow_model, weights, device, videos.device)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    result = _flow_magnitude(
        videos,
        model,
        size=size,
        batch_size=batch_size,
        device=run_device,
        num_flow_updates=num_flow_updates,
    )
    return result.to(videos.device)


def _flow_model(
    flow_model: str | nn.Module,
    weights: str | os.PathLike | None,
    device: str | torch.device | None,
    fallback: torch.device,
) -> tuple[nn.Module, torch.device]:
    if isinstance(flow_model, str):
        run_device = torch.device(device) if device is not None else fallback
        return load_raft(flow_model, weights, run_device), run_device
    if not isinstance(flow_model, nn.Module):
        raise ValueError(
            f"flow_model must be one of {RAFT_MODELS} or an nn.Module, "
            f"got {type(flow_model).__name__}"
        )
    if weights is not None:
        raise ValueError("weights is only used with a named RAFT model, not an injected module")
    flow_model.eval()
    return flow_model, injected_device(flow_model, device, fallback, "the flow model")


class Motion(VideoMetric):
    """How much videos move: mean absolute frame difference, plus RAFT flow magnitude.

    ``compute()`` returns ``{"motion": mean frame difference}`` and, when flow is on,
    ``{"motion_flow[raft_large]": mean flow magnitude in pixels}`` (means over videos).

    Args:
        flow: ``"auto"`` (default): RAFT-large if its weights are on this machine, else no flow
            (``metadata["flow"]`` says why; a ``flow_weights`` file that does not exist raises);
            ``"raft_large"`` / ``"raft_small"``: required, a missing checkpoint raises; ``None``: frame difference only; or an injected module
            (see :func:`flow_magnitude`).
        flow_weights: local RAFT checkpoint (or ``"random"`` for tests).
        flow_size: shorter side of the frames RAFT sees (``None``: native).
        batch_size: frame pairs per RAFT call.
        num_flow_updates: RAFT refinement iterations.
        device: where RAFT runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = None
    metric_name = "motion"

    def __init__(
        self,
        flow: str | nn.Module | None = "auto",
        *,
        flow_weights: str | os.PathLike | None = None,
        flow_size: int | None = 256,
        batch_size: int = 8,
        num_flow_updates: int = 12,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._flow_weights = flow_weights
        self._flow_size = flow_size
        self._batch_size = batch_size
        self._num_flow_updates = num_flow_updates
        self._device_arg = device
        self._flow_module: nn.Module | None = None
        self._flow_name: str | None = None
        self._flow_note = "off (flow=None)"
        if isinstance(flow, nn.Module):
            self._flow_module, self._flow_name = flow, f"custom:{type(flow).__name__}"
            self._flow_note = "injected"
        elif flow == "auto":
            try:
                source = resolve_raft_weights(DEFAULT_FLOW_MODEL, flow_weights)
            except WeightsNotFoundError as err:
                if flow_weights is not None:  # a file was named: its absence is an error
                    raise
                self._flow_note = f"off: {str(err).splitlines()[0]}"
            else:
                self._flow_name, self._flow_note = DEFAULT_FLOW_MODEL, str(source)
        elif isinstance(flow, str):
            self._flow_name = flow
            self._flow_note = str(resolve_raft_weights(flow, flow_weights))
        elif flow is not None:
            raise ValueError(
                f"flow must be 'auto', one of {RAFT_MODELS}, None or an nn.Module, got {flow!r}"
            )
        self._add_per_video_state("frame_diff", "flow")

    @property
    def flow_name(self) -> str | None:
        """Name of the result with flow magnitude (``None`` when flow is off)."""
        return None if self._flow_name is None else f"motion_flow[{self._flow_name}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """How the motion numbers are computed."""
        return {
            **super().metadata,
            "frame_diff": "mean |x[t+1] - x[t]| over pairs, pixels and channels, [0, 1] units",
            "flow": self._flow_note,
            "flow_name": self.flow_name,
            "flow_size": self._flow_size,
            "num_flow_updates": self._num_flow_updates,
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1)."""
        videos = check_videos(videos)
        self.frame_diff.append(mean_abs_frame_difference(videos).to(self.device))
        if self._flow_name is None:
            return
        if self._flow_module is not None:
            model, run_device = _flow_model(self._flow_module, None, self._device_arg, self.device)
        else:
            run_device = torch.device(
                self._device_arg if self._device_arg is not None else self.device
            )
            model = load_raft(self._flow_name, self._flow_weights, run_device)
        flow = _flow_magnitude(
            videos,
            model,
            size=self._flow_size,
            batch_size=self._batch_size,
            device=run_device,
            num_flow_updates=self._num_flow_updates,
        )
        self.flow.append(flow.to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"motion": ..., "motion_flow[<model>]": ...}``, means over all videos."""
        return {key: values.mean() for key, values in self.per_video().items()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """Per-video frame difference (and flow magnitude), ``(N,)`` each."""
        out = {"motion": self._values("frame_diff")}
        if self.flow_name is not None:
            out[self.flow_name] = self._values("flow")
        return out
