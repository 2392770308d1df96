"""What every video metric class shares: per-video states, a result name and metadata."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from evaluation.encoders import PIXEL, FrameEncoder, load_encoder

__all__ = ["EncoderVideoMetric", "VideoMetric"]


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


class EncoderVideoMetric(VideoMetric):
    """A :class:`VideoMetric` computed on frame features. Subclasses set ``_encoder`` (the
    :class:`FrameEncoder`), ``_encoder_arg`` (what the caller passed), ``_weights`` and
    ``_device_arg``."""

    _encoder: FrameEncoder

    def _current_encoder(self) -> FrameEncoder:
        """The encoder, reloaded on the metric's device if it moved (named encoders only)."""
        target = torch.device(self._device_arg if self._device_arg is not None else self.device)
        named = isinstance(self._encoder_arg, str) and self._encoder_arg != PIXEL
        if named and self._encoder.device != target:
            self._encoder = load_encoder(self._encoder_arg, self._weights, target)
        return self._encoder

    @property
    def name(self) -> str:
        """``<metric>[<encoder>]``, e.g. ``dino_consistency[dino_vits16]``."""
        return f"{self.metric_name}[{self._encoder.name}]"
