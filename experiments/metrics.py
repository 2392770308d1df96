"""The set of metrics a job computes, built from the ``metrics`` config group.

Feature metrics name their encoder in the result column (``dino_consistency[pixel]``,
``dino_consistency[dino_vits16]``), so results from different encoders never mix silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

import evaluation
from experiments.settings import ConfigError


@dataclass(frozen=True)
class _Metric:
    fn: Callable[..., torch.Tensor]
    default_encoder: str | None  # None: no encoder (pixel statistics)
    needs_prompts: bool = False


METRICS: dict[str, _Metric] = {
    "dino_consistency": _Metric(evaluation.dino_consistency, "dino_vits16"),
    "subject_consistency": _Metric(evaluation.subject_consistency, "dino_vitb16"),
    "background_consistency": _Metric(evaluation.background_consistency, "clip_vitb32"),
    "clip_score": _Metric(evaluation.clip_score, "clip_vitb32", needs_prompts=True),
    "temporal_flicker": _Metric(evaluation.temporal_flicker, None),
    "motion": _Metric(evaluation.motion, None),
}


class MetricSuite:
    """Callable ``suite(videos (B, T, C, H, W), prompts) -> {column: (B,) tensor}``."""

    def __init__(
        self,
        names: Sequence[str],
        encoder: str | None = None,
        weights: dict[str, str] | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ConfigError(
                f"metrics.names: unknown metric(s) {', '.join(unknown)}; "
                f"known: {', '.join(METRICS)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"metrics.batch_size must be an integer >= 1, got {batch_size!r}")
        self.names = list(names)
        self.encoder = encoder
        self.weights = dict(weights or {})
        self.batch_size = batch_size
        self.device = device

    @classmethod
    def from_config(cls, cfg: DictConfig, device: str | None = None) -> MetricSuite:
        """From the ``metrics`` group: ``names``, ``encoder`` (``pixel`` or null for each
        metric's own), ``weights`` (encoder name -> local checkpoint) and ``batch_size``."""
        names = OmegaConf.select(cfg, "names") or []
        weights = OmegaConf.to_container(cfg.weights) if cfg.get("weights") else {}
        return cls(
            list(names),
            cfg.get("encoder"),
            weights,
            int(cfg.get("batch_size", 64)),
            device,
        )

    def _encoder_of(self, name: str) -> str | None:
        default = METRICS[name].default_encoder
        if default is None:
            return None
        return self.encoder or default

    def column(self, name: str) -> str:
        """The result column of metric ``name``: ``name[encoder]`` for feature metrics."""
        encoder = self._encoder_of(name)
        return name if encoder is None else f"{name}[{encoder}]"

    def describe(self) -> dict[str, Any]:
        """Column -> metric, encoder and weights, for the job summary."""
        out = {}
        for name in self.names:
            encoder = self._encoder_of(name)
            out[self.column(name)] = dict(
                metric=name, encoder=encoder, weights=self.weights.get(encoder) if encoder else None
            )
        return out

    @torch.inference_mode()
    def __call__(self, videos: torch.Tensor, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        scores = {}
        for name in self.names:
            metric, encoder = METRICS[name], self._encoder_of(name)
            kwargs: dict[str, Any] = {}
            if encoder is not None:
                kwargs = dict(
                    encoder=encoder,
                    weights=self.weights.get(encoder),
                    batch_size=self.batch_size,
                    device=self.device,
                )
            args = (videos, list(prompts)) if metric.needs_prompts else (videos,)
            scores[self.column(name)] = metric.fn(*args, **kwargs).float().cpu()
        return scores
