"""What every video metric class shares: per-video states, a result name and metadata; and, for
metrics on frame features, one encoder set-up (:func:`resolve_encoder`, :class:`EncoderVideoMetric`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from evaluation.encoders import (
    PIXEL,
    EncoderLike,
    FrameEncoder,
    get_encoder,
    load_encoder,
)
from evaluation.preprocessing import Preprocess, get_preprocess

__all__ = [
    "EncoderVideoMetric",
    "PreprocessLike",
    "VideoMetric",
    "device_of",
    "injected_device",
    "resolve_encoder",
]

PreprocessLike = Preprocess | str | dict[str, Any] | None


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


def device_of(module: torch.nn.Module) -> torch.device | None:
    """Where ``module`` lives: the device of its first parameter or buffer; ``None`` when it has
    neither (it then runs wherever its inputs are)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        return tensor.device
    return None


def injected_device(
    module: torch.nn.Module,
    device: str | torch.device | None,
    fallback: torch.device,
    what: str = "the model",
) -> torch.device:
    """Where an injected (caller-built) ``module`` runs: ``device`` when given, which must be where
    its parameters already are (the metric never moves a caller's module); else its own device;
    else ``fallback`` (a module without tensors runs anywhere). ``what`` names it in the error."""
    own = device_of(module)
    if device is None:
        return own or fallback
    if own is not None and own != torch.device(device):
        raise ValueError(
            f"device={str(device)!r} but {what}'s parameters are on {own}; "
            f"move the model or leave device=None"
        )
    return torch.device(device)


def resolve_encoder(
    encoder: EncoderLike,
    *,
    default: str,
    default_preprocess: Preprocess,
    weights: str | os.PathLike | None = None,
    preprocess: PreprocessLike = None,
    device: str | torch.device | None = None,
    fallback_device: torch.device | None = None,
    prepare: Callable[[FrameEncoder], FrameEncoder] | None = None,
) -> tuple[FrameEncoder, Preprocess]:
    """A feature metric's ``encoder=`` and ``preprocess=`` arguments, resolved.

    Args:
        encoder: as :func:`evaluation.encoders.get_encoder` (``None``: ``default``).
        default: the metric's encoder name.
        default_preprocess: the metric's rule; its geometry is kept and the encoder's own
            normalisation (if it has one) replaces its mean/std when ``preprocess`` is None.
        weights: for a registered encoder: ``None``, ``"random"`` or a local checkpoint.
        preprocess: a :class:`Preprocess`, a preset name or a dict of its fields.
        device: where the encoder runs.
        fallback_device: where a registered encoder is loaded when ``device`` is None.
        prepare: applied to the encoder before the preprocessing is chosen (CLIP score adds its
            text encoder).

    Returns:
        The encoder and the preprocessing rule.
    """
    frame_encoder = get_encoder(
        encoder, default=default, weights=weights, device=device, fallback_device=fallback_device
    )
    if prepare is not None:
        frame_encoder = prepare(frame_encoder)
    if preprocess is not None:
        return frame_encoder, get_preprocess(preprocess)
    return frame_encoder, frame_encoder.preprocess_for(default_preprocess)


class EncoderVideoMetric(VideoMetric):
    """A :class:`VideoMetric` computed on frame features.

    Subclasses set :attr:`default_encoder` and :attr:`default_preprocess` (or pass them) and call
    :meth:`_init_encoder` in ``__init__``; ``update`` takes ``(encoder, device)`` from
    :meth:`_encoder_and_device`.
    """

    default_encoder: str = ""
    default_preprocess: Preprocess
    _encoder: FrameEncoder

    def _init_encoder(
        self,
        encoder: EncoderLike,
        *,
        weights: str | os.PathLike | None,
        preprocess: PreprocessLike,
        batch_size: int,
        device: str | torch.device | None,
        prepare: Callable[[FrameEncoder], FrameEncoder] | None = None,
    ) -> None:
        """Check and keep the encoder arguments; load the encoder now, so that missing weights
        fail at construction, not at the first update."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._encoder_arg = self.default_encoder if encoder is None else encoder
        self._weights = weights
        self._batch_size = batch_size
        self._device_arg = device
        self._encoder, self._preprocess = resolve_encoder(
            encoder,
            default=self.default_encoder,
            default_preprocess=self.default_preprocess,
            weights=weights,
            preprocess=preprocess,
            device=device,
            prepare=prepare,
        )

    def _current_encoder(self) -> FrameEncoder:
        """The encoder, reloaded on the metric's device if it moved (named encoders only)."""
        target = torch.device(self._device_arg if self._device_arg is not None else self.device)
        named = isinstance(self._encoder_arg, str) and self._encoder_arg != PIXEL
        if named and self._encoder.device != target:
            self._encoder = load_encoder(self._encoder_arg, self._weights, target)
        return self._encoder

    def _encoder_and_device(self) -> tuple[FrameEncoder, str | torch.device]:
        """The encoder for an update (:meth:`_current_encoder`) and where it runs: ``device=``,
        else the encoder's device, else the metric's."""
        encoder = self._current_encoder()
        device = self._device_arg
        if device is None:
            device = encoder.device or self.device
        return encoder, device

    @property
    def name(self) -> str:
        """``<metric>[<encoder>]``, e.g. ``dino_consistency[dino_vits16]``."""
        return f"{self.metric_name}[{self._encoder.name}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """The metric, its encoder and its preprocessing."""
        return {
            **super().metadata,
            **self._encoder.metadata(),
            "preprocess": self._preprocess.to_dict(),
        }
