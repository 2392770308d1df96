"""What every video metric class shares: per-video states, a result name and metadata."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

__all__ = ["VideoMetric"]


class VideoMetric(Metric):
    """A torchmetrics ``Metric`` that keeps one value per video.

    Subclasses declare per-video states with :meth:`_add_per_video_state` (concatenated across
    updates and processes) and build their results from :meth:`_values`.

    * ``compute()`` returns a dict ``{result name: value}``. The name carries the encoder, e.g.
      ``"dino_consistency[dino_vits16]"``, so results from different encoders never mix.
    * :meth:`per_video` returns the per-video values in update order, for paired statistics.
    * :attr:`metadata` describes exactly what was computed (encoder, weights, preprocessing,
      pooling), for experiment records.
    """

    is_differentiable = False
    full_state_update = False
    metric_name: str = ""

    def _add_per_video_state(self, *names: str) -> None:
        for state in names:
            self.add_state(state, default=[], dist_reduce_fx="cat")

    def _values(self, state: str) -> torch.Tensor:
        values = getattr(self, state)
        if isinstance(values, list) and not values:
            raise ValueError(f"{type(self).__name__} has no videos: call update() before compute()")
        return dim_zero_cat(values)

    @property
    def name(self) -> str:
        """The name of the main result."""
        return self.metric_name

    @property
    def metadata(self) -> dict[str, Any]:
        """Plain values describing how the result is computed."""
        return {"metric": self.metric_name, "name": self.name}

    def per_video(self) -> dict[str, torch.Tensor]:
        """Per-video values, ``(N,)`` each, keyed like :meth:`compute`'s results."""
        raise NotImplementedError
