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
from evaluation.checkpoints import check_checkpoint
from evaluation.encoders import ENCODERS, PIXEL, resolve_encoder_weights
from experiments.settings import ConfigError
from freqlab.hub import WeightsNotFoundError


@dataclass(frozen=True)
class _Metric:
    fn: Callable[..., torch.Tensor]
    default_encoder: str | None  # None: no encoder (pixel statistics)
    needs_prompts: bool = False


METRICS: dict[str, _Metric] = {
    "dino_consistency": _Metric(evaluation.dino_consistency, "dino_vits16"),
    "subject_consistency": _Metric(evaluation.subject_consistency, "dino_vitb16"),
    "background_consistency": _Metric(evaluation.background_consistency, "clip_vitb32"),
    "window_consistency": _Metric(evaluation.window_consistency, "dino_vits16"),
    "cross_window_consistency": _Metric(evaluation.cross_window_consistency, "dino_vits16"),
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
        metric's own), ``weights`` (encoder name -> local checkpoint) and ``batch_size``.

        Weights for an encoder that no selected metric uses are refused (``metrics=pixel
        +metrics.weights.dino_vits16=...`` would otherwise be ignored silently)."""
        names = OmegaConf.select(cfg, "names") or []
        weights = OmegaConf.to_container(cfg.weights) if cfg.get("weights") else {}
        encoder = cfg.get("encoder")
        if encoder is not None and encoder != PIXEL and encoder not in ENCODERS:
            known = ", ".join([PIXEL, *ENCODERS])
            raise ConfigError(f"metrics.encoder must be null or one of {known}, got {encoder!r}")
        suite = cls(list(names), encoder, weights, cfg.get("batch_size", 64), device)
        suite._check_weight_keys()
        return suite

    def encoders(self) -> list[str]:
        """The registered encoders the selected metrics use (``pixel`` is not one)."""
        used = [self._encoder_of(n) for n in self.names]
        return list(dict.fromkeys(e for e in used if e is not None and e != PIXEL))

    def _check_weight_keys(self) -> None:
        """``metrics.weights`` names registered encoders that a selected metric uses."""
        unknown = [k for k in self.weights if k not in ENCODERS]
        if unknown:
            raise ConfigError(
                f"metrics.weights.{unknown[0]}: unknown encoder {unknown[0]!r}; "
                f"known: {', '.join(ENCODERS)}"
            )
        used = self.encoders()
        unused = [k for k, v in self.weights.items() if v is not None and k not in used]
        if unused:
            keys = ", ".join(f"metrics.weights.{k}" for k in unused)
            uses = ", ".join(used) if used else "no encoder with weights"
            raise ConfigError(
                f"{keys}: no selected metric uses encoder {', '.join(unused)} "
                f"(metrics.names=[{', '.join(self.names)}], metrics.encoder={self.encoder}: "
                f"{uses}); "
                "remove the key, or select a metric that uses it"
            )

    def check_weights(self) -> dict[str, str]:
        """Find and validate every used encoder's checkpoint without building a model (start-up
        check, before any sampling). Returns encoder -> where its weights are.

        Raises:
            WeightsNotFoundError: missing weights; the message names ``metrics.weights.<name>``.
            ConfigError: the file is not a valid checkpoint (or needs pickled objects); the
                message names the key that points at it.
        """
        found, missing = {}, []
        for name in self.encoders():
            key = f"metrics.weights.{name}"
            try:
                source = resolve_encoder_weights(name, self.weights.get(name), argument=key)
            except WeightsNotFoundError as err:  # report every missing encoder at once
                missing.append(str(err))
                continue
            if source.path is not None:
                try:
                    check_checkpoint(source.path)
                except ValueError as err:
                    given = self.weights.get(name)
                    where = f"{key}={given}" if given is not None else f"{key} (unset: {source})"
                    raise ConfigError(f"{where}: {err}") from None
            found[name] = str(source)
        if missing:
            raise WeightsNotFoundError("\n\n".join(missing))
        return found

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
