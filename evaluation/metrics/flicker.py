"""VBench's temporal flickering score.

Per video: ``(255 - mean_t MAE_t) / 255`` with ``MAE_t`` the mean absolute difference of frames
``t`` and ``t + 1`` over all pixels and channels in 0-255 units, at the native resolution
(VBench ``temporal_flickering.py``). In [0, 1] units this is ``1 - mean |x[t+1] - x[t]|``.
1.0 means no change at all; overall is the mean over videos.

VBench applies it to videos it first filtered as static (``static_filter.py``): on moving videos
it mostly measures motion, and it equals ``1 - motion`` (:func:`evaluation.metrics.motion`).
Float input is used as is, not quantised to uint8 as decoded video files would be.
"""

from __future__ import annotations

from typing import Any

import torch

from evaluation.inputs import check_videos
from evaluation.metrics.base import VideoMetric
from evaluation.metrics.motion import mean_abs_frame_difference

__all__ = ["TemporalFlicker", "temporal_flicker"]


def temporal_flicker(videos: torch.Tensor) -> torch.Tensor:
    """VBench temporal flickering score of each video.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``.

    Returns:
        ``(B,)`` float32 in [0, 1]; 1.0 for identical frames.
    """
    return 1.0 - mean_abs_frame_difference(check_videos(videos))


class TemporalFlicker(VideoMetric):
    """VBench temporal flickering (higher: less flicker); see :func:`temporal_flicker`.

    ``compute()`` returns ``{"temporal_flicker": mean over videos}``.
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "temporal_flicker"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._add_per_video_state("scores")

    @property
    def metadata(self) -> dict[str, Any]:
        """How the score is computed."""
        return {
            **super().metadata,
            "formula": "(255 - mean_t MAE(x[t], x[t+1])) / 255, native resolution",
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1)."""
        self.scores.append(temporal_flicker(videos).to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"temporal_flicker": mean over videos}``."""
        return {self.name: self._values("scores").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"temporal_flicker": (N,)}``."""
        return {self.name: self._values("scores")}
